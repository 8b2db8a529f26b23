// Security Association payload (RFC 7296 section 3.3).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                          <Proposals>                          ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// The SA payload: one or more proposals, most preferred first.
public struct SecurityAssociationPayload: Hashable, Sendable, CustomStringConvertible {
    public var proposals: [Proposal]

    public init(proposals: [Proposal]) { self.proposals = proposals }

    /// Reads the payload body (after the generic header). At least one proposal; the Last
    /// Substruc of the last must be 0 and the proposals must fill the body exactly.
    public init(parsing body: inout ByteBuffer) throws {
        var proposals: [Proposal] = []
        var sawLast = false
        while !sawLast {
            guard proposals.count < IKELimits.maxProposals else {
                throw IKEParseError.tooMany("proposals", limit: IKELimits.maxProposals)
            }
            let (proposal, isLast) = try Proposal.parse(from: &body)
            proposals.append(proposal)
            sawLast = isLast
        }
        try body.expectFullyRead("SA payload")
        self.proposals = proposals
    }

    public func write(to buffer: inout ByteBuffer) {
        for (index, proposal) in proposals.enumerated() {
            proposal.write(to: &buffer, isLast: index == proposals.count - 1)
        }
    }

    public var description: String { "SA[" + proposals.map(\.description).joined(separator: ", ") + "]" }
}
