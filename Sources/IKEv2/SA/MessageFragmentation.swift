// IKE message fragmentation, the sending side (RFC 7383 2.5): a protected message larger
// than the path allows goes out as SKF fragments, each encrypted and authenticated on its
// own, so that no IP fragment is needed (networks drop those).
//
//  fragment k of n:
//  +------------+-------------------------------+----+--------------------------+-----+
//  | IKE header | SKF header | Frag k | Total n | IV | chunk k | Pad | PadLen   | ICV |
//  +------------+-------------------------------+----+--------------------------+-----+
//  |<------- associated data (AEAD) ----------->|
//
// The chunks are consecutive pieces of the inner payload chain (the plaintext an SK
// payload would carry). The first fragment's SKF Next Payload names the first inner
// payload, the others' are 0. IKE_SA_INIT is never fragmented (2.5.3).
import NIOCore

/// The `fragmentation` and `fragment_size` settings of a connection (strongSwan's names).
public struct FragmentationPolicy: Sendable, Equatable {
    /// Whether IKEV2_FRAGMENTATION_SUPPORTED is offered/answered in IKE_SA_INIT and SKF
    /// fragments accepted (`fragmentation = no` turns it off).
    public var supported: Bool
    /// Whether we fragment our own large messages when the peer supports it
    /// (`fragmentation = accept`: announce and reassemble, but never send fragments).
    public var sendsFragments: Bool
    /// The largest IP datagram one fragment may make, IP and UDP headers included
    /// (strongSwan's `fragment_size`, 1280 by default: IPv6's minimum MTU).
    public var maximumDatagramSize: Int

    public init(supported: Bool = true, sendsFragments: Bool = true, maximumDatagramSize: Int = 1280) {
        self.supported = supported
        self.sendsFragments = sendsFragments
        self.maximumDatagramSize = maximumDatagramSize
    }

    /// strongSwan's `fragmentation = yes` with `fragment_size = 1280`.
    public static let `default` = FragmentationPolicy()

    /// The largest IKE message (header included) that fits one datagram of
    /// `maximumDatagramSize` from `local`: IP (20 or 40) and UDP (8) headers off, and the
    /// non-ESP marker (4, RFC 3948) on the NAT-T port.
    public func maximumMessageSize(local: IKEEndpoint) -> Int {
        let ipHeader = local.address.count == 4 ? 20 : 40
        let marker = local.port == IKEEndpoint.natTraversalPort ? 4 : 0
        return maximumDatagramSize - ipHeader - 8 - marker
    }
}

extension IKESAKeyContext {
    /// The datagrams of the message `header` + `payloads` (inside SK): one, or SKF fragments
    /// of at most `maximumMessageSize` octets each when the whole would be larger. Nil
    /// `maximumMessageSize`: never fragment.
    public func sealDatagrams(header: IKEHeader, payloads: [IKEPayload], maximumMessageSize: Int?) throws -> IKEDatagrams {
        var plain = ByteBuffer()
        let first = IKEMessage.writeInnerPayloads(payloads, to: &plain)
        var plaintext = plain.readBytes(length: plain.readableBytes) ?? []
        defer { wipe(&plaintext) }
        let wholeLength = IKEHeader.length + GenericPayloadHeader.length + outbound.sealedLength(plaintextLength: plaintext.count)
        guard let limit = maximumMessageSize, wholeLength > limit else {
            return [try seal(header: header, firstInnerPayload: first, plaintext: plaintext)]
        }
        let chunk = try fragmentChunkLength(maximumMessageSize: limit)
        let total = (plaintext.count + chunk - 1) / chunk
        guard total <= Int(UInt16.max) else { throw IKECryptoError.invalidLength(what: "IKE fragments", requested: total) }
        return try (0..<total).map { index in
            let piece = Array(plaintext[(index * chunk)..<min(plaintext.count, (index + 1) * chunk)])
            return try Self.sealFragment(outbound, header: header, firstInnerPayload: index == 0 ? first : .noNextPayload,
                                         number: UInt16(index + 1), total: UInt16(total), plaintext: piece)
        }
    }

    /// The most plaintext octets one fragment of `maximumMessageSize` octets can carry.
    func fragmentChunkLength(maximumMessageSize limit: Int) throws -> Int {
        let framing = IKEHeader.length + GenericPayloadHeader.length + 4
        // The padding depends on the length: start low by a block and grow while it fits.
        var chunk = limit - framing - outbound.ivLength - outbound.icvLength - 1 - (outbound.blockSize - 1)
        while framing + outbound.sealedLength(plaintextLength: chunk + 1) <= limit { chunk += 1 }
        guard chunk > 0 else { throw IKECryptoError.invalidLength(what: "fragment_size", requested: limit) }
        return chunk
    }

    /// Fragment `number` of `total` carrying `plaintext`, sealed with `protection`.
    package static func sealFragment(_ protection: any EncryptedPayloadProtection, header: IKEHeader, firstInnerPayload: PayloadType,
                                     number: UInt16, total: UInt16, plaintext: [UInt8]) throws -> [UInt8] {
        let sealedLength = protection.sealedLength(plaintextLength: plaintext.count)
        var prefix = ByteBuffer()
        var header = header
        header.nextPayload = .encryptedFragment
        header.write(to: &prefix)
        let payloadLength = GenericPayloadHeader.length + 4 + sealedLength
        GenericPayloadHeader(nextPayload: firstInnerPayload, isCritical: false, payloadLength: UInt16(payloadLength)).write(to: &prefix)
        prefix.writeInteger(number)
        prefix.writeInteger(total)
        prefix.setInteger(UInt32(prefix.writerIndex + sealedLength), at: 24)
        let associatedData = Array(prefix.readableBytesView)
        return associatedData + (try protection.seal(plaintext: plaintext, associatedData: associatedData))
    }

    /// One received fragment, its ICV verified: its fields and its piece of the plaintext.
    public func openFragment(_ message: IKEMessage) throws -> (fragment: EncryptedFragmentPayload, plaintext: [UInt8]) {
        guard let fragment = message.encryptedFragmentPayload, let associatedData = message.encryptedAssociatedData else {
            throw IKEParseError.invalidValue("SKF payload missing", 0)
        }
        var body = fragment.body
        let sealed = body.readBytes(length: body.readableBytes) ?? []
        return (fragment, try inbound.open(sealed, associatedData: Array(associatedData.readableBytesView)))
    }
}

extension IKEMessage {
    /// The SKF payload of a fragment (RFC 7383), if this message is one.
    public var encryptedFragmentPayload: EncryptedFragmentPayload? {
        for case .encryptedFragment(let skf) in payloads { return skf }
        return nil
    }
}
