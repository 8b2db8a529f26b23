/// The message type byte of a cluster frame. Open: unknown values are representable (and
/// rejected by the decoder with `ClusterWireError.unknownMessageType`).
public struct ClusterMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Agent → routing node: join (or rejoin) the cluster.
    public static let hello = ClusterMessageType(rawValue: 1)
    /// Routing node → agent: accepted into an epoch.
    public static let welcome = ClusterMessageType(rawValue: 2)
    /// Both ways: still alive.
    public static let heartbeat = ClusterMessageType(rawValue: 3)
    /// Routing node → agent: program one kernel SA.
    public static let installSA = ClusterMessageType(rawValue: 4)
    /// Routing node → agent: remove one kernel SA.
    public static let deleteSA = ClusterMessageType(rawValue: 5)
    /// Agent → routing node: an install or delete succeeded.
    public static let ack = ClusterMessageType(rawValue: 6)
    /// Agent → routing node: an install, delete or request failed, with a reason.
    public static let nack = ClusterMessageType(rawValue: 7)
    /// Agent → routing node: bytes and packets of one SA on this target since install.
    public static let lifesizeReport = ClusterMessageType(rawValue: 8)
    /// Agent → routing node: the next outbound sequence block of a shared SA.
    public static let sequenceBlockRequest = ClusterMessageType(rawValue: 9)
    /// Routing node → agent: a sequence block.
    public static let sequenceBlockGrant = ClusterMessageType(rawValue: 10)
    /// Agent → routing node: send me everything.
    public static let resyncRequest = ClusterMessageType(rawValue: 11)
    /// Routing node → agent: the complete list of SAs the agent should hold.
    public static let fullState = ClusterMessageType(rawValue: 12)
    /// Agent → routing node: an inbound SA's replay state from its kernel (authenticated).
    public static let replayReport = ClusterMessageType(rawValue: 13)
    /// Agent → routing node: connections that ended in the target's kernel (conntrack).
    public static let flowEndReport = ClusterMessageType(rawValue: 14)
    /// Agent → routing node: connections the target's kernel holds (conntrack), per SA, after a Welcome.
    public static let flowReport = ClusterMessageType(rawValue: 15)

    public var description: String {
        switch self {
        case .hello: return "Hello"
        case .welcome: return "Welcome"
        case .heartbeat: return "Heartbeat"
        case .installSA: return "InstallSA"
        case .deleteSA: return "DeleteSA"
        case .ack: return "Ack"
        case .nack: return "Nack"
        case .lifesizeReport: return "LifesizeReport"
        case .sequenceBlockRequest: return "SequenceBlockRequest"
        case .sequenceBlockGrant: return "SequenceBlockGrant"
        case .resyncRequest: return "ResyncRequest"
        case .fullState: return "FullState"
        case .replayReport: return "ReplayReport"
        case .flowEndReport: return "FlowEndReport"
        case .flowReport: return "FlowReport"
        default: return "type(\(rawValue))"
        }
    }
}
