// The entry point the FuzzIKEMessage libFuzzer target calls with arbitrary octets
// (fuzz-only module, not in the `vipsec` binary).
import IKEv2
import NIOCore

/// What the parser made of fuzz input.
public enum FuzzParseOutcome: Equatable, Sendable {
    /// The input was rejected with a typed error (the normal case for noise).
    case rejected(IKEParseError)
    /// The input parsed, and writing then re-parsing it gave the same message.
    case parsed
    /// The input parsed, but writing it back and parsing again gave another message or
    /// failed: a codec bug. A fuzz target should trap on this.
    case roundTripMismatch
}

extension IKEMessage {
    /// Parses `bytes` as a datagram; on success writes the message back and re-parses it
    /// (which must give an equal message), and also runs the SK body through the inner
    /// chain parser as if it were plaintext, to exercise that path. Never traps itself.
    public static func fuzzParse(_ bytes: UnsafeRawBufferPointer) -> FuzzParseOutcome {
        let buffer = ByteBuffer(bytes: bytes)
        let message: IKEMessage
        do {
            message = try IKEMessage(datagram: buffer)
        } catch let error as IKEParseError {
            return .rejected(error)
        } catch {
            return .roundTripMismatch
        }
        if let sk = message.encryptedPayload {
            var inner = sk.body
            _ = try? IKEMessage.parseInnerPayloads(firstPayload: sk.firstInnerPayload, from: &inner)
        }
        guard let again = try? IKEMessage(datagram: message.bytes), again == message else {
            return .roundTripMismatch
        }
        return .parsed
    }
}
