// libFuzzer entry point: every input goes through the IKE message parser, and whatever
// parses must write back and re-parse to the same message. A crash or a round-trip
// mismatch is a finding; a typed parse error is the expected answer to noise.
import IKEv2

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIKEMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    switch IKEMessage.fuzzParse(UnsafeRawBufferPointer(start: data, count: size)) {
    case .parsed, .rejected:
        return 0
    case .roundTripMismatch:
        fatalError("IKE message parsed, but did not survive write + re-parse")
    }
}
