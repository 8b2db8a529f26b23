/// UDP encapsulation of ESP (RFC 3948), when a NAT was detected (RFC 7296 section 2.23): the
/// UDP ports of an SA's packets. One type for the IKE code (a negotiated CHILD_SA) and the
/// cluster (an SA on the wire to the targets); both modules re-export this one.
public struct UDPEncapsulation: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public init(sourcePort: UInt16, destinationPort: UInt16) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }
}
