// Typed look-ups over a payload chain (the outer one or the decrypted one inside SK), so
// exchange code reads `payloads.nonce` instead of switching over every case.

extension Array where Element == IKEPayload {
    /// The first SA payload.
    public var securityAssociation: SecurityAssociationPayload? {
        for case .securityAssociation(let payload) in self { return payload }
        return nil
    }
    /// The first KE payload.
    public var keyExchange: KeyExchangePayload? {
        for case .keyExchange(let payload) in self { return payload }
        return nil
    }
    /// The first Nonce payload.
    public var nonce: NoncePayload? {
        for case .nonce(let payload) in self { return payload }
        return nil
    }
    /// The first IDi payload.
    public var identificationInitiator: IdentificationPayload? {
        for case .identificationInitiator(let payload) in self { return payload }
        return nil
    }
    /// The first IDr payload.
    public var identificationResponder: IdentificationPayload? {
        for case .identificationResponder(let payload) in self { return payload }
        return nil
    }
    /// The first AUTH payload.
    public var authentication: AuthenticationPayload? {
        for case .authentication(let payload) in self { return payload }
        return nil
    }
    /// The first TSi payload.
    public var trafficSelectorInitiator: TrafficSelectorPayload? {
        for case .trafficSelectorInitiator(let payload) in self { return payload }
        return nil
    }
    /// The first TSr payload.
    public var trafficSelectorResponder: TrafficSelectorPayload? {
        for case .trafficSelectorResponder(let payload) in self { return payload }
        return nil
    }
    /// Every Notify payload, in order.
    public var notifies: [NotifyPayload] {
        compactMap { if case .notify(let payload) = $0 { return payload } else { return nil } }
    }
    /// The first Notify of a type.
    public func notify(_ type: NotifyMessageType) -> NotifyPayload? {
        notifies.first { $0.messageType == type }
    }
    /// Every Delete payload, in order.
    public var deletes: [DeletePayload] {
        compactMap { if case .delete(let payload) = $0 { return payload } else { return nil } }
    }
    /// The first error notify (type below 16384), which in a response means the request failed.
    public var firstErrorNotify: NotifyPayload? {
        notifies.first { $0.messageType.isError }
    }
}
