// What a standby routing node needs to continue an *established* IKE_SA after a takeover
// (docs/takeover.md section 2): the IKE_SA's identity, endpoints, negotiated transforms and
// keys, its message-ID state, its timers and its CHILD_SAs. `IKESA.snapshot` makes one,
// `IKESA.restore` rebuilds the IKE_SA from it (IKESA+Snapshot.swift); the codec here turns
// it into octets and back (IKESARecord+Codec.swift). The octets hold keys: they leave the
// process only sealed (HACoordination.RecordSealer).

/// An established IKE_SA as a value.
public struct IKESARecord: Sendable, Equatable, CustomStringConvertible {
    /// The message-ID state of the IKE_SA's one sequencer (TaskManager.swift, RFC 7296 2.1-2.3).
    public struct MessageIDs: Sendable, Equatable {
        /// The message ID our next request carries (the one in flight, if `outstanding` is set).
        public var nextRequest: UInt32
        /// The message ID the peer's next request must carry.
        public var expectedRequest: UInt32
        /// The last response we sent, for the peer's retransmission of its request:
        /// the request's message ID and digest, and the response's datagrams (ciphertext).
        public var lastResponse: CachedResponse?
        /// Our liveness check (an empty INFORMATIONAL, RFC 7296 2.4) in flight, if any: a
        /// new active retransmits these very datagrams, so the peer answers it (fresh or from
        /// its cache) and no message ID is skipped or used for other bytes.
        public var outstandingLiveness: IKEDatagrams?

        public init(nextRequest: UInt32, expectedRequest: UInt32, lastResponse: CachedResponse?, outstandingLiveness: IKEDatagrams?) {
            self.nextRequest = nextRequest
            self.expectedRequest = expectedRequest
            self.lastResponse = lastResponse
            self.outstandingLiveness = outstandingLiveness
        }
    }

    /// A cached response and the request it answered.
    public struct CachedResponse: Sendable, Equatable {
        public var messageID: UInt32
        public var requestDigest: [UInt8]
        public var datagrams: IKEDatagrams
        public init(messageID: UInt32, requestDigest: [UInt8], datagrams: IKEDatagrams) {
            self.messageID = messageID
            self.requestDigest = requestDigest
            self.datagrams = datagrams
        }
    }

    /// The gateway's timers of the IKE_SA, in wall-clock seconds since 1970 (monotonic clocks
    /// differ between nodes). nil: not scheduled.
    public struct Times: Sendable, Equatable {
        public var established: Double
        public var rekeyDue: Double?
        public var expiry: Double?
        public var nextLiveness: Double?
        public init(established: Double, rekeyDue: Double? = nil, expiry: Double? = nil, nextLiveness: Double? = nil) {
            self.established = established
            self.rekeyDue = rekeyDue
            self.expiry = expiry
            self.nextLiveness = nextLiveness
        }
    }

    /// The record format version this build writes (and the only one it reads).
    public static let currentVersion: UInt8 = 1

    /// The connection's name; the standby resolves it against its own, identical configuration.
    public var connection: String
    public var isOriginalInitiator: Bool
    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    public var local: IKEEndpoint
    public var remote: IKEEndpoint
    public var natDetection: NATDetectionResult?
    public var fragmentationNegotiated: Bool
    public var peerSupportsRedirect: Bool
    /// Our identity as sent (checked against the standby's configuration) and the peer's as authenticated.
    public var localIdentity: IdentificationPayload
    public var peerIdentity: IdentificationPayload
    /// The negotiated PRF and ENCR/INTEG (the KE method is not needed once the keys exist).
    public var prf: PseudorandomFunctionID
    public var suite: EncryptionSuite
    /// SK_d, SK_ai, SK_ar, SK_ei, SK_er (RFC 7296 2.14). SK_pi/SK_pr are left out: only AUTH uses them.
    public var skD: SecretBytes
    public var skAi: SecretBytes
    public var skAr: SecretBytes
    public var skEi: SecretBytes
    public var skEr: SecretBytes
    public var messageIDs: MessageIDs
    public var rekeyGeneration: UInt32
    public var times: Times
    /// The CHILD_SAs, with SPIs, keys, selectors, lifetimes, reqid and encapsulation.
    public var childSAs: [ChildSAInstallation]

    public init(connection: String, isOriginalInitiator: Bool, initiatorSPI: UInt64, responderSPI: UInt64,
                local: IKEEndpoint, remote: IKEEndpoint, natDetection: NATDetectionResult?, fragmentationNegotiated: Bool,
                peerSupportsRedirect: Bool, localIdentity: IdentificationPayload, peerIdentity: IdentificationPayload,
                prf: PseudorandomFunctionID, suite: EncryptionSuite, skD: SecretBytes, skAi: SecretBytes, skAr: SecretBytes,
                skEi: SecretBytes, skEr: SecretBytes, messageIDs: MessageIDs, rekeyGeneration: UInt32, times: Times,
                childSAs: [ChildSAInstallation]) {
        self.connection = connection
        self.isOriginalInitiator = isOriginalInitiator
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.local = local
        self.remote = remote
        self.natDetection = natDetection
        self.fragmentationNegotiated = fragmentationNegotiated
        self.peerSupportsRedirect = peerSupportsRedirect
        self.localIdentity = localIdentity
        self.peerIdentity = peerIdentity
        self.prf = prf
        self.suite = suite
        self.skD = skD
        self.skAi = skAi
        self.skAr = skAr
        self.skEi = skEi
        self.skEr = skEr
        self.messageIDs = messageIDs
        self.rekeyGeneration = rekeyGeneration
        self.times = times
        self.childSAs = childSAs
    }

    /// Our SPI (the etcd key names the record by it).
    public var localSPI: UInt64 { isOriginalInitiator ? initiatorSPI : responderSPI }

    /// SPIs and counts only: never a key.
    public var description: String {
        "IKESARecord(\(connection) \(String(initiatorSPI, radix: 16))_i \(String(responderSPI, radix: 16))_r, "
            + "next MID \(messageIDs.nextRequest)/expected \(messageIDs.expectedRequest), \(childSAs.count) CHILD_SAs, keys redacted)"
    }
}

/// Why a record could not be made, read or restored. Names the field; never holds key material.
public enum IKESARecordError: Error, Equatable, CustomStringConvertible {
    /// The octets end inside `field`.
    case truncated(field: String)
    /// `field` holds a value this build cannot use.
    case invalidValue(field: String, reason: String)
    /// Not a record (wrong magic).
    case notARecord
    case unsupportedVersion(UInt8)
    /// Octets after the last field.
    case trailingOctets(Int)
    /// The IKE_SA is not in a state a record can capture (e.g. an exchange that changes
    /// state is in flight), or the record does not fit this node's configuration.
    case notRestorable(String)

    public var description: String {
        switch self {
        case .truncated(let field): return "IKE_SA record truncated in \(field)"
        case .invalidValue(let field, let reason): return "IKE_SA record: invalid \(field): \(reason)"
        case .notARecord: return "not an IKE_SA record (bad magic)"
        case .unsupportedVersion(let version): return "IKE_SA record version \(version) not supported (this build reads \(IKESARecord.currentVersion))"
        case .trailingOctets(let count): return "IKE_SA record: \(count) octets after the last field"
        case .notRestorable(let reason): return "IKE_SA not restorable: \(reason)"
        }
    }
}
