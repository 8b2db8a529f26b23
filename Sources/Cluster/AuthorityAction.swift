/// Identifies an IKE response the daemon holds back until its SAs are on the targets.
public struct IKEResponseToken: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: IKEResponseToken, rhs: IKEResponseToken) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "ike-response#\(rawValue)" }
}

/// Why the authority drops a member.
public enum DropReason: Equatable, Sendable, CustomStringConvertible {
    /// Not heard from within the failure timeout.
    case silent
    /// Did not acknowledge an install within the install timeout.
    case installTimeout(ClusterSAID)
    /// Did not acknowledge the install of a shared SA within the install timeout, still
    /// waiting for its first sequence block (a target adds the SA with its first block):
    /// `refusals` of its requests were refused for want of room in the peer's window.
    case noFirstSequenceBlock(ClusterSAID, refusals: Int)

    public var description: String {
        switch self {
        case .silent: return "silent past the failure timeout"
        case .installTimeout(let saID): return "no answer to the install of \(saID) within the install timeout"
        case .noFirstSequenceBlock(let saID, let refusals):
            return "no answer to the install of \(saID) within the install timeout: it had no sequence block yet "
                + "(\(refusals) requests refused window-full)"
        }
    }
}

/// How outbound SAs keep their sequence numbers apart (configuration).
public enum OutboundMode: Hashable, Sendable {
    /// One outbound CHILD_SA per target (the default).
    case perTarget
    /// One outbound SA shared by all targets, sequence numbers in blocks.
    case shared(blockSize: UInt64, peerReplayWindow: UInt64)
}

/// What the SA authority wants done. The shell carries these out in order.
public enum AuthorityAction: Equatable, Sendable, CustomStringConvertible {
    /// Send `message` to `node` over its cluster connection.
    case send(ClusterMessage, to: NodeID)
    /// The response's SAs are installed on every live target meant to have them: send it.
    case releaseIKEResponse(IKEResponseToken)
    /// No target could install one of the response's SAs: the daemon must not make them
    /// usable (it answers with an error notify or deletes the CHILD_SA).
    case failIKEResponse(IKEResponseToken, reason: String)
    /// Close `node`'s connection; it is no longer a member (it may rejoin and resync).
    case dropMember(NodeID, reason: DropReason)
    /// Per-target mode: negotiate (CREATE_CHILD_SA) an outbound SA for `owner` with the
    /// traffic selectors of the CHILD_SA line `reqid`.
    case negotiatePerTargetSA(owner: NodeID, reqid: UInt32)
    /// Delete this SA with the peer (its owner left, or it is of no use any more).
    case deleteChildSA(ClusterSAID)
    /// Rekey this SA (lifesize near its limit, or its sequence space near its end).
    case rekey(ClusterSAID)
    /// The replacement of this SA is on every target: its rekey came `timing` by the
    /// lifesize estimate, and N (the reporting percentage for new SAs) is now `percent`.
    case rekeyJudged(ClusterSAID, RekeyTiming, percent: Double)
    /// A holder's kernel reported the replay state of the inbound SA `sa` (authenticated
    /// evidence): hand it to the inbound distributor's window.
    case authenticatedReplay(ClusterMessage.ReplayReport, sa: SADescription)
    /// A member's conntrack reported the end of these connections (peer-to-DVIPA direction):
    /// hand them to the inbound distributor, which removes the entries `node` owns.
    case flowsEnded([InnerFiveTuple], by: NodeID)
    /// A holder's conntrack holds these connections of inbound SAs it holds (reported after
    /// a Welcome): hand them to the inbound distributor, which places them on `node`.
    case flowsReported([ReportedFlow], by: NodeID)

    public var description: String {
        switch self {
        case .send(let message, let node): return "send \(message) to \(node)"
        case .releaseIKEResponse(let token): return "release \(token)"
        case .failIKEResponse(let token, let reason): return "fail \(token): \(reason)"
        case .dropMember(let node, let reason): return "drop \(node): \(reason)"
        case .negotiatePerTargetSA(let owner, let reqid): return "negotiate outbound SA for \(owner) (reqid \(reqid))"
        case .deleteChildSA(let saID): return "delete \(saID) with the peer"
        case .rekey(let saID): return "rekey \(saID)"
        case .rekeyJudged(let saID, let timing, let percent): return "rekey of \(saID) came \(timing), N = \(percent) %"
        case .authenticatedReplay(let report, _): return "authenticated \(report)"
        case .flowsEnded(let flows, let node): return "\(flows.count) flows ended at \(node)"
        case .flowsReported(let flows, let node): return "\(flows.count) flows held at \(node)"
        }
    }
}

/// One connection a target reported holding, with the inbound SA (as distributed) whose
/// traffic it is: the SA's destination and SPI find it in the distributor, whose entry key
/// is the SA's CHILD_SA line.
public struct ReportedFlow: Equatable, Sendable {
    public var sa: SADescription
    public var flow: InnerFiveTuple
    public init(sa: SADescription, flow: InnerFiveTuple) {
        self.sa = sa
        self.flow = flow
    }
}
