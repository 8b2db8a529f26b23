// libFuzzer target: FuzzIKEResponder with certificate authentication configured both ways
// (IKEFuzzSupport/FuzzCredentials.swift): every input drives a fresh responder IKE_SA
// through IKE_SA_INIT and IKE_AUTH, so CERT and CERTREQ payloads reach chain building,
// X.509 parsing (swift-certificates), identity matching and signature verification
// (OpenSSL). Mode bit 1 signs the initiator's AUTH with the fixture initiator key. A crash
// (trap, ASan report) is a finding; every outcome, refusals included, is an expected answer.
import CFuzzer
import Foundation
import IKECertificates
import IKECrypto
import IKEFuzzSupport
import IKEv2

let provider = OpenSSLCryptoProvider()
// The fixtures beside the seeds (Tests/IKEv2Tests/Fixtures/pubkey); failing to read them is a
// harness bug, not a finding.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/IKEv2Tests/Fixtures/pubkey")
let credentials = try! FuzzCredentials(directory: fixtures)

let fuzzOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = IKESA.fuzzResponder(bytes, configuration: credentials.configuration, provider: provider,
                            initiatorSigner: credentials.initiatorSigner)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
