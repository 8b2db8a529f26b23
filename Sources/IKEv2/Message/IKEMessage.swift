// An IKE message: the header and the chain of payloads (RFC 7296 sections 3.1, 3.2).
//
//  +-------------------------+
//  | IKE header (28 octets)  |  Next Payload = type of payload 1, Length = whole message
//  +-------------------------+
//  | payload 1               |  generic header: Next Payload = type of payload 2 ...
//  | ...                     |
//  | payload n (SK, if any)  |  SK is last; its Next Payload = first encrypted payload
//  +-------------------------+

import NIOCore

/// A whole IKE message. Parsing validates the framing: version, lengths, payload chain,
/// critical bits and counts; it does not decide whether the payloads suit the exchange.
public struct IKEMessage: Sendable, CustomStringConvertible {
    public var header: IKEHeader
    /// The outer payloads, in order. If the message is protected, the last one is SK (or
    /// SKF) and the rest of the payloads are inside it.
    public var payloads: [IKEPayload]

    /// For a parsed message: the exact octets received (header through last payload).
    public private(set) var receivedBytes: ByteBuffer?
    /// For a parsed message with SK/SKF: the offset in `receivedBytes` where the opaque
    /// part (IV...) starts, i.e. the length of the AEAD associated data.
    public private(set) var encryptedBodyOffset: Int?

    public init(header: IKEHeader, payloads: [IKEPayload]) {
        self.header = header
        self.payloads = payloads
    }

    /// Reads one message of `header.length` octets from the buffer (which may hold more).
    /// Throws `IKEParseError`; its `notifyMessageType` is what the RFC says to answer.
    public init(parsing buffer: inout ByteBuffer) throws {
        let start = buffer.readerIndex
        var peek = buffer
        header = try IKEHeader(parsing: &peek)
        guard Int(header.length) <= IKELimits.maxMessageLength else {
            throw IKEParseError.invalidLength("IKE message", Int(header.length))
        }
        guard let whole = buffer.readSlice(length: Int(header.length)) else {
            throw IKEParseError.truncated("IKE message (header says \(header.length) octets)")
        }
        var chain = whole.getSlice(at: whole.readerIndex + IKEHeader.length, length: whole.readableBytes - IKEHeader.length)
            ?? ByteBuffer()
        var offset: Int?
        do {
            payloads = try PayloadChain.parse(first: header.nextPayload, from: &chain, allowEncrypted: true,
                                              encryptedBodyOffset: &offset)
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
        receivedBytes = whole
        encryptedBodyOffset = offset.map { $0 + IKEHeader.length }
    }

    /// Reads a UDP datagram that must hold exactly one message (no octets after it).
    public init(datagram: ByteBuffer) throws {
        var buffer = datagram
        try self.init(parsing: &buffer)
        try buffer.expectFullyRead("IKE message")
    }

    /// Writes the message, setting the header's Next Payload and Length from the payloads.
    public func write(to buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        var header = self.header
        header.nextPayload = payloads.first?.type ?? .noNextPayload
        header.write(to: &buffer)
        PayloadChain.write(payloads, to: &buffer)
        buffer.setInteger(UInt32(truncatingIfNeeded: buffer.writerIndex - start), at: start + 24)
    }

    /// The message as a new buffer.
    public var bytes: ByteBuffer {
        var buffer = ByteBuffer()
        write(to: &buffer)
        return buffer
    }

    // MARK: Looking payloads up

    /// The SK payload, if the message is protected.
    public var encryptedPayload: EncryptedPayload? {
        for case .encrypted(let sk) in payloads { return sk }
        return nil
    }

    /// The outer notify payloads, in order (inside SK: decrypt, then `payloads.notifies`).
    public var notifies: [NotifyPayload] { payloads.notifies }

    /// The first outer notify of a type.
    public func notify(_ type: NotifyMessageType) -> NotifyPayload? { payloads.notify(type) }

    public var description: String {
        let direction = header.isResponse ? "response" : "request"
        return "\(header.exchangeType) \(direction) #\(header.messageID) [" +
            payloads.map(\.description).joined(separator: " ") + "]"
    }
}

extension IKEMessage: Hashable {
    /// Messages are equal when header and payloads are. The header's Next Payload and
    /// Length are derived from the payloads when writing and do not count, nor does how
    /// the message was received.
    public static func == (lhs: IKEMessage, rhs: IKEMessage) -> Bool {
        lhs.normalizedHeader == rhs.normalizedHeader && lhs.payloads == rhs.payloads
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(normalizedHeader)
        hasher.combine(payloads)
    }

    private var normalizedHeader: IKEHeader {
        var header = self.header
        header.nextPayload = .noNextPayload
        header.length = 0
        return header
    }
}
