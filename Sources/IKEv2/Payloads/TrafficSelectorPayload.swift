// Traffic Selector payloads TSi and TSr (RFC 7296 section 3.13).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Number of TSs |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                       <Traffic Selectors>                     ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// TSi or TSr: the traffic a CHILD_SA covers on one side. At least one selector.
public struct TrafficSelectorPayload: Hashable, Sendable, CustomStringConvertible {
    public var trafficSelectors: [TrafficSelector]

    public init(trafficSelectors: [TrafficSelector]) { self.trafficSelectors = trafficSelectors }

    /// Reads the body; Number of TSs must be at least one, match the selectors present and
    /// stay within `IKELimits.maxTrafficSelectors`.
    public init(parsing body: inout ByteBuffer) throws {
        let count: UInt8 = try body.readIKEInteger("TS payload")
        _ = try body.readIKEBytes("TS payload", length: 3)
        guard count > 0 else { throw IKEParseError.invalidValue("Number of TSs", 0) }
        guard Int(count) <= IKELimits.maxTrafficSelectors else {
            throw IKEParseError.tooMany("traffic selectors", limit: IKELimits.maxTrafficSelectors)
        }
        var selectors: [TrafficSelector] = []
        selectors.reserveCapacity(Int(count))
        for _ in 0..<count { selectors.append(try TrafficSelector(parsing: &body)) }
        try body.expectFullyRead("TS payload")
        trafficSelectors = selectors
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(truncatingIfNeeded: trafficSelectors.count))
        buffer.writeBytes([0, 0, 0])
        for selector in trafficSelectors { selector.write(to: &buffer) }
    }

    public var description: String { "TS[" + trafficSelectors.map(\.description).joined(separator: ", ") + "]" }
}
