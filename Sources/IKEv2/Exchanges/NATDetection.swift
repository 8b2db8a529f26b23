// NAT detection (RFC 7296 2.23): both ends send, in IKE_SA_INIT,
//
//     N(NAT_DETECTION_SOURCE_IP)      = SHA-1(SPIi | SPIr | source IP | source port)
//     N(NAT_DETECTION_DESTINATION_IP) = SHA-1(SPIi | SPIr | destination IP | destination port)
//
// (SPIr is zero in the request). The receiver recomputes them from the addresses the
// datagram really carried: a different source hash means a NAT in front of the peer, a
// different destination hash a NAT in front of us. Either one moves the IKE_SA to UDP 4500
// and the CHILD_SAs to UDP encapsulation (RFC 3948). Pure: the hash comes from the provider.

/// What NAT detection found for one IKE_SA.
public struct NATDetectionResult: Sendable, Equatable {
    /// The peer's source address/port was rewritten on the way (it is behind a NAT).
    public var remoteBehindNAT: Bool
    /// Our address/port as the peer saw it differs from ours (we are behind a NAT).
    public var localBehindNAT: Bool

    public init(remoteBehindNAT: Bool = false, localBehindNAT: Bool = false) {
        self.remoteBehindNAT = remoteBehindNAT
        self.localBehindNAT = localBehindNAT
    }

    /// A NAT on either side: IKE on UDP 4500, ESP in UDP.
    public var natDetected: Bool { remoteBehindNAT || localBehindNAT }
}

/// The RFC 7296 2.23 hash and the decision, with no I/O.
public enum NATDetection {
    /// The notification data: SHA-1 over SPIi | SPIr | address | port (network order).
    public static func hash(provider: any IKECryptoProvider, initiatorSPI: UInt64, responderSPI: UInt64,
                            endpoint: IKEEndpoint) throws -> [UInt8] {
        let port = [UInt8(endpoint.port >> 8), UInt8(endpoint.port & 0xFF)]
        return try provider.sha1(initiatorSPI.bigEndianBytes + responderSPI.bigEndianBytes + endpoint.address + port)
    }

    /// Our two notifies for a message from `local` to `remote`.
    public static func notifies(provider: any IKECryptoProvider, initiatorSPI: UInt64, responderSPI: UInt64,
                                local: IKEEndpoint, remote: IKEEndpoint) throws -> [NotifyPayload] {
        [
            NotifyPayload(messageType: .natDetectionSourceIP,
                          notificationData: try hash(provider: provider, initiatorSPI: initiatorSPI,
                                                     responderSPI: responderSPI, endpoint: local)),
            NotifyPayload(messageType: .natDetectionDestinationIP,
                          notificationData: try hash(provider: provider, initiatorSPI: initiatorSPI,
                                                     responderSPI: responderSPI, endpoint: remote)),
        ]
    }

    /// Checks the peer's notifies against the addresses the datagram carried (`remote` its
    /// source, `local` its destination). Nil when the peer sent none (it does not do NAT-T):
    /// then no NAT handling. Several source notifies (a multihomed peer): any match is no NAT.
    public static func evaluate(provider: any IKECryptoProvider, notifies: [NotifyPayload],
                                initiatorSPI: UInt64, responderSPI: UInt64,
                                local: IKEEndpoint, remote: IKEEndpoint) throws -> NATDetectionResult? {
        let sources = notifies.filter { $0.messageType == .natDetectionSourceIP }.map(\.notificationData)
        let destinations = notifies.filter { $0.messageType == .natDetectionDestinationIP }.map(\.notificationData)
        guard !sources.isEmpty, !destinations.isEmpty else { return nil }
        let remoteHash = try hash(provider: provider, initiatorSPI: initiatorSPI, responderSPI: responderSPI, endpoint: remote)
        let localHash = try hash(provider: provider, initiatorSPI: initiatorSPI, responderSPI: responderSPI, endpoint: local)
        return NATDetectionResult(remoteBehindNAT: !sources.contains(remoteHash),
                                  localBehindNAT: !destinations.contains(localHash))
    }
}
