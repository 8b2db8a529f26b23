import NIOCore

/// One message on the cluster channel (the claims' "XCF message"). Each case's payload is a
/// nested struct with `init(parsing:)` and `write(to:)` for its body; framing is
/// `ClusterFrame` / `ClusterFrameDecoder`.
public enum ClusterMessage: Equatable, Sendable, CustomStringConvertible {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case installSA(InstallSA)
    case deleteSA(DeleteSA)
    case ack(Ack)
    case nack(Nack)
    case lifesizeReport(LifesizeReport)
    case sequenceBlockRequest(SequenceBlockRequest)
    case sequenceBlockGrant(SequenceBlockGrant)
    case resyncRequest(ResyncRequest)
    case fullState(FullState)
    case replayReport(ReplayReport)
    case flowEndReport(FlowEndReport)
    case flowReport(FlowReport)

    /// The frame's message type byte.
    public var type: ClusterMessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .heartbeat: return .heartbeat
        case .installSA: return .installSA
        case .deleteSA: return .deleteSA
        case .ack: return .ack
        case .nack: return .nack
        case .lifesizeReport: return .lifesizeReport
        case .sequenceBlockRequest: return .sequenceBlockRequest
        case .sequenceBlockGrant: return .sequenceBlockGrant
        case .resyncRequest: return .resyncRequest
        case .fullState: return .fullState
        case .replayReport: return .replayReport
        case .flowEndReport: return .flowEndReport
        case .flowReport: return .flowReport
        }
    }

    /// Parses a body of the given type; unknown types throw `unknownMessageType`.
    public init(type: ClusterMessageType, parsing body: inout ByteBuffer) throws {
        switch type {
        case .hello: self = .hello(try Hello(parsing: &body))
        case .welcome: self = .welcome(try Welcome(parsing: &body))
        case .heartbeat: self = .heartbeat(try Heartbeat(parsing: &body))
        case .installSA: self = .installSA(try InstallSA(parsing: &body))
        case .deleteSA: self = .deleteSA(try DeleteSA(parsing: &body))
        case .ack: self = .ack(try Ack(parsing: &body))
        case .nack: self = .nack(try Nack(parsing: &body))
        case .lifesizeReport: self = .lifesizeReport(try LifesizeReport(parsing: &body))
        case .sequenceBlockRequest: self = .sequenceBlockRequest(try SequenceBlockRequest(parsing: &body))
        case .sequenceBlockGrant: self = .sequenceBlockGrant(try SequenceBlockGrant(parsing: &body))
        case .resyncRequest: self = .resyncRequest(try ResyncRequest(parsing: &body))
        case .fullState: self = .fullState(try FullState(parsing: &body))
        case .replayReport: self = .replayReport(try ReplayReport(parsing: &body))
        case .flowEndReport: self = .flowEndReport(try FlowEndReport(parsing: &body))
        case .flowReport: self = .flowReport(try FlowReport(parsing: &body))
        default: throw ClusterWireError.unknownMessageType(type)
        }
    }

    /// Writes the body (no frame header).
    public func writeBody(to buffer: inout ByteBuffer) {
        switch self {
        case .hello(let message): message.write(to: &buffer)
        case .welcome(let message): message.write(to: &buffer)
        case .heartbeat(let message): message.write(to: &buffer)
        case .installSA(let message): message.write(to: &buffer)
        case .deleteSA(let message): message.write(to: &buffer)
        case .ack(let message): message.write(to: &buffer)
        case .nack(let message): message.write(to: &buffer)
        case .lifesizeReport(let message): message.write(to: &buffer)
        case .sequenceBlockRequest(let message): message.write(to: &buffer)
        case .sequenceBlockGrant(let message): message.write(to: &buffer)
        case .resyncRequest(let message): message.write(to: &buffer)
        case .fullState(let message): message.write(to: &buffer)
        case .replayReport(let message): message.write(to: &buffer)
        case .flowEndReport(let message): message.write(to: &buffer)
        case .flowReport(let message): message.write(to: &buffer)
        }
    }

    public var description: String {
        switch self {
        case .hello(let message): return "\(message)"
        case .welcome(let message): return "\(message)"
        case .heartbeat(let message): return "\(message)"
        case .installSA(let message): return "\(message)"
        case .deleteSA(let message): return "\(message)"
        case .ack(let message): return "\(message)"
        case .nack(let message): return "\(message)"
        case .lifesizeReport(let message): return "\(message)"
        case .sequenceBlockRequest(let message): return "\(message)"
        case .sequenceBlockGrant(let message): return "\(message)"
        case .resyncRequest(let message): return "\(message)"
        case .fullState(let message): return "\(message)"
        case .replayReport(let message): return "\(message)"
        case .flowEndReport(let message): return "\(message)"
        case .flowReport(let message): return "\(message)"
        }
    }
}
