// The framing around SK (RFC 7296 section 3.14, RFC 5282 section 5.1): which octets the
// AEAD's associated data (or the integrity checksum) covers, and the plaintext chain.
//
//  |<------------- associated data (AEAD) ------------->|
//  +------------+-------------------+-------------------+----+------------+---------+-----+
//  | IKE header | payloads before SK| SK generic header | IV | ciphertext | padding | ICV |
//  +------------+-------------------+-------------------+----+------------+---------+-----+
//  |<----------------- integrity checksum covers (non-AEAD) ------------------------>|

import NIOCore

extension IKEMessage {
    /// The octets an SK payload's AEAD tag (as associated data) covers for a message about
    /// to be sent: the IKE header (Length counting the final message), `payloadsBefore`
    /// with their generic headers, and the SK generic header whose Next Payload is
    /// `firstInnerPayload`. The caller appends the `encryptedBodyLength` octets of IV,
    /// ciphertext, padding and ICV to obtain the message. For a non-AEAD integrity
    /// algorithm the checksum covers this prefix plus IV, ciphertext and padding.
    public static func encryptedMessagePrefix(header: IKEHeader, payloadsBefore: [IKEPayload] = [],
                                              firstInnerPayload: PayloadType,
                                              encryptedBodyLength: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        var header = header
        header.nextPayload = payloadsBefore.first?.type ?? .encrypted
        header.write(to: &buffer)
        // The payloads before SK chain into SK: write them with an SK placeholder last.
        let chain = payloadsBefore + [.encrypted(EncryptedPayload(firstInnerPayload: firstInnerPayload, body: ByteBuffer()))]
        PayloadChain.write(chain, to: &buffer)
        let skHeaderStart = buffer.writerIndex - GenericPayloadHeader.length
        buffer.setInteger(UInt16(truncatingIfNeeded: GenericPayloadHeader.length + encryptedBodyLength), at: skHeaderStart + 2)
        buffer.setInteger(UInt32(truncatingIfNeeded: buffer.writerIndex + encryptedBodyLength), at: 24)
        return buffer
    }

    /// For a received protected message: the associated data (IKE header through the SK
    /// generic header; for SKF through Total Fragments). Nil if the message was built
    /// locally or has no SK/SKF payload.
    public var encryptedAssociatedData: ByteBuffer? {
        guard let bytes = receivedBytes, let offset = encryptedBodyOffset else { return nil }
        return bytes.getSlice(at: bytes.readerIndex, length: offset)
    }

    /// Writes plaintext payloads as they go inside SK (before padding and encryption) and
    /// returns the type of the first, for the SK header's Next Payload.
    @discardableResult
    public static func writeInnerPayloads(_ payloads: [IKEPayload], to buffer: inout ByteBuffer) -> PayloadType {
        PayloadChain.write(payloads, to: &buffer)
    }

    /// Reads the decrypted payload chain of an SK payload (padding and pad length already
    /// removed), starting with a payload of type `firstPayload` (the SK's Next Payload).
    /// The same rules as outside apply; an SK inside SK is invalid syntax.
    public static func parseInnerPayloads(firstPayload: PayloadType, from buffer: inout ByteBuffer) throws -> [IKEPayload] {
        var unused: Int?
        return try PayloadChain.parse(first: firstPayload, from: &buffer, allowEncrypted: false, encryptedBodyOffset: &unused)
    }
}
