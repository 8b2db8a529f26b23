// libFuzzer target: every input drives a fresh responder IKE_SA through IKE_SA_INIT and
// IKE_AUTH (IKESA.fuzzResponder, Sources/IKEFuzzSupport/IKESA+FuzzResponder.swift: the input layout and
// its modes), with OpenSSL as the crypto provider. A crash (trap, ASan report) is a
// finding; every outcome, refusals included, is the expected answer to hostile input.
import CFuzzer
import Foundation
import IKECrypto
import IKEFuzzSupport
import IKEv2

let provider = OpenSSLCryptoProvider()
// Our own constant configuration, not input: failing to build it is a harness bug.
let configuration = try! IKESAConfiguration.fuzzResponder()

let fuzzOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = IKESA.fuzzResponder(bytes, configuration: configuration, provider: provider)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
