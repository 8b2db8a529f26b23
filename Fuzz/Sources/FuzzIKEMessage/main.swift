// libFuzzer target: every input goes through the IKE message parser, and whatever parses
// must write back and re-parse to the same message. A crash or a round-trip mismatch is a
// finding; a typed parse error is the expected answer to noise.
//
// SwiftPM gives executables their own `main`, so this one hands control to libFuzzer's
// driver instead of relying on libFuzzer's `main`.
import CFuzzer
import Foundation
import IKEFuzzSupport
import IKEv2

let fuzzOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    switch IKEMessage.fuzzParse(bytes) {
    case .parsed, .rejected:
        return 0
    case .roundTripMismatch:
        fatalError("IKE message parsed, but did not survive write + re-parse")
    }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
