// Sealing and opening the SK payload of a whole message (RFC 7296 3.14), with the
// protections derived for each direction of an IKE_SA.
import NIOCore

/// The keys and protections of an IKE_SA once IKE_SA_INIT is done.
public struct IKESAKeyContext {
    /// The negotiated PRF.
    public var prf: any PseudorandomFunction
    /// SK_d, SK_a*, SK_e*, SK_p*.
    public var keys: IKESAKeys
    /// The negotiated ENCR/INTEG.
    public var suite: EncryptionSuite
    /// Protection of the messages we send, and of those we receive.
    public var outbound: any EncryptedPayloadProtection
    public var inbound: any EncryptedPayloadProtection

    /// Derives the protections; `isOriginalInitiator` picks SK_ei/SK_ai for sending.
    public init(prf: any PseudorandomFunction, keys: IKESAKeys, suite: EncryptionSuite,
                isOriginalInitiator: Bool, provider: any IKECryptoProvider) throws {
        self.prf = prf
        self.keys = keys
        self.suite = suite
        let initiatorSide = try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: keys.skEi, integrityKey: keys.skAi)
        let responderSide = try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: keys.skEr, integrityKey: keys.skAr)
        outbound = isOriginalInitiator ? initiatorSide : responderSide
        inbound = isOriginalInitiator ? responderSide : initiatorSide
    }

    /// The datagram for `header` with `payloads` inside an SK payload.
    public func seal(header: IKEHeader, payloads: [IKEPayload]) throws -> [UInt8] {
        var plain = ByteBuffer()
        let first = IKEMessage.writeInnerPayloads(payloads, to: &plain)
        var plaintext = plain.readBytes(length: plain.readableBytes) ?? []
        defer { wipe(&plaintext) }
        return try seal(header: header, firstInnerPayload: first, plaintext: plaintext)
    }

    /// The datagram for `header` with an SK payload holding `plaintext` (an inner payload chain).
    func seal(header: IKEHeader, firstInnerPayload first: PayloadType, plaintext: [UInt8]) throws -> [UInt8] {
        let sealedLength = outbound.sealedLength(plaintextLength: plaintext.count)
        let prefix = IKEMessage.encryptedMessagePrefix(header: header, firstInnerPayload: first, encryptedBodyLength: sealedLength)
        let associatedData = Array(prefix.readableBytesView)
        let sealed = try outbound.seal(plaintext: plaintext, associatedData: associatedData)
        return associatedData + sealed
    }

    /// The inner payloads of a received protected message. Throws `IKECryptoError` when
    /// the ICV does not verify, `IKEParseError` when the plaintext is malformed.
    public func open(_ message: IKEMessage) throws -> [IKEPayload] {
        guard let encrypted = message.encryptedPayload, let associatedData = message.encryptedAssociatedData else {
            throw IKEParseError.invalidValue("SK payload missing", 0)
        }
        var body = encrypted.body
        let sealed = body.readBytes(length: body.readableBytes) ?? []
        var plaintext = try inbound.open(sealed, associatedData: Array(associatedData.readableBytesView))
        defer { wipe(&plaintext) }
        var buffer = ByteBuffer(bytes: plaintext)
        return try IKEMessage.parseInnerPayloads(firstPayload: encrypted.firstInnerPayload, from: &buffer)
    }
}
