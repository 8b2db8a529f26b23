import CMNL
import Netlink

/// A connection's original-direction tuple as ctnetlink reports it (CTA_TUPLE_ORIG: the
/// direction of the first packet, here the peer's inner packet to the DVIPA).
public struct ConntrackTuple: Hashable, Sendable {
    /// AF_INET or AF_INET6 (the nfgenmsg family).
    public var family: UInt8
    /// 4 or 16 octets, network order.
    public var source: [UInt8]
    public var destination: [UInt8]
    /// CTA_PROTO_NUM (6 TCP, 17 UDP, ...).
    public var ipProtocol: UInt8
    /// CTA_PROTO_SRC_PORT / DST_PORT (host order; 0 for protocols without ports).
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    public init(family: UInt8, source: [UInt8], destination: [UInt8], ipProtocol: UInt8, sourcePort: UInt16, destinationPort: UInt16) {
        (self.family, self.source, self.destination) = (family, source, destination)
        (self.ipProtocol, self.sourcePort, self.destinationPort) = (ipProtocol, sourcePort, destinationPort)
    }
}

/// One ctnetlink event (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK): a conntrack
/// entry destroyed (IPCTNL_MSG_CT_DELETE, group NFNLGRP_CONNTRACK_DESTROY) or updated
/// (IPCTNL_MSG_CT_NEW without NLM_F_CREATE, group NFNLGRP_CONNTRACK_UPDATE; TCP carries its
/// new state in CTA_PROTOINFO when the state changed).
///
/// Layout (net/netfilter/nf_conntrack_netlink.c, ctnetlink_conntrack_event): nlmsghdr,
/// struct nfgenmsg (family, version, res_id), then attributes; CTA_TUPLE_ORIG nests
/// CTA_TUPLE_IP (CTA_IP_V4_SRC/DST or CTA_IP_V6_SRC/DST) and CTA_TUPLE_PROTO (CTA_PROTO_NUM,
/// CTA_PROTO_SRC_PORT/DST_PORT, big-endian); CTA_ID is big-endian.
public struct ConntrackEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The entry is gone (timeout, TIME_WAIT over, flush, RST...).
        case destroyed
        /// The entry changed; `tcpState` is `TCP_CONNTRACK_*` when the message carried it.
        case updated(tcpState: UInt8?)
    }

    public var kind: Kind
    public var original: ConntrackTuple
    /// CTA_ID: the entry's id (nil when absent), to tell one connection's events apart.
    public var id: UInt32?

    /// TCP_CONNTRACK_TIME_WAIT and TCP_CONNTRACK_CLOSE: both sides are done (the entry
    /// itself lingers 120 s resp. 10 s before it is destroyed).
    public static let closedTCPStates: Set<UInt8> = [UInt8(TCP_CONNTRACK_TIME_WAIT.rawValue), UInt8(TCP_CONNTRACK_CLOSE.rawValue)]

    /// True when the connection has ended: destroyed, or a TCP entry in TIME_WAIT or CLOSE.
    public var isEnd: Bool {
        switch kind {
        case .destroyed: return true
        case .updated(let state): return state.map { Self.closedTCPStates.contains($0) } ?? false
        }
    }

    static let subsystem = UInt16(NFNL_SUBSYS_CTNETLINK)
    public static let newType = subsystem << 8 | UInt16(IPCTNL_MSG_CT_NEW.rawValue)
    public static let deleteType = subsystem << 8 | UInt16(IPCTNL_MSG_CT_DELETE.rawValue)

    /// Decodes one event. Nil for messages that are not ctnetlink NEW/DELETE (other
    /// subsystems, control messages); malformed ones throw `NetlinkError.malformed`.
    public init?(parsing message: NetlinkMessage) throws {
        switch message.type {
        case Self.deleteType: kind = .destroyed
        case Self.newType: kind = .updated(tcpState: nil)
        default: return nil
        }
        let header = try message.fixedHeader(nfgenmsg.self)
        let family = header.nfgen_family
        guard family == UInt8(AF_INET) || family == UInt8(AF_INET6) else {
            throw NetlinkError.malformed("conntrack event of family \(family)")
        }
        let attributes = try message.attributes(after: MemoryLayout<nfgenmsg>.size, policy: Policy.conntrack)
        guard let tuple = try attributes.nested(Attribute.tupleOriginal, policy: Policy.tuple) else {
            throw NetlinkError.malformed("conntrack event without CTA_TUPLE_ORIG")
        }
        original = try Self.tuple(tuple, family: family)
        id = try attributes[Attribute.id].map { try Self.bigEndian($0, "CTA_ID") }
        if case .updated = kind, let info = try attributes.nested(Attribute.protocolInfo, policy: Policy.protocolInfo),
           let tcp = try info.nested(Attribute.protocolInfoTCP, policy: Policy.tcpInfo),
           let state = tcp[Attribute.tcpState]?.first {
            kind = .updated(tcpState: state)
        }
    }

    static func tuple(_ tuple: NetlinkAttributes, family: UInt8) throws -> ConntrackTuple {
        guard let ip = try tuple.nested(Attribute.tupleIP, policy: Policy.ip),
              let proto = try tuple.nested(Attribute.tupleProtocol, policy: Policy.proto) else {
            throw NetlinkError.malformed("CTA_TUPLE_ORIG without CTA_TUPLE_IP or CTA_TUPLE_PROTO")
        }
        let v4 = family == UInt8(AF_INET)
        let (sourceType, destinationType, length) = v4 ? (Attribute.ipv4Source, Attribute.ipv4Destination, 4)
                                                        : (Attribute.ipv6Source, Attribute.ipv6Destination, 16)
        guard let source = ip[sourceType], let destination = ip[destinationType] else {
            throw NetlinkError.malformed("CTA_TUPLE_IP without the \(v4 ? "IPv4" : "IPv6") addresses of its family")
        }
        guard let number = proto[Attribute.protocolNumber]?.first else {
            throw NetlinkError.malformed("CTA_TUPLE_PROTO without CTA_PROTO_NUM")
        }
        let sourcePort = try proto[Attribute.sourcePort].map { try port($0, "CTA_PROTO_SRC_PORT") } ?? 0
        let destinationPort = try proto[Attribute.destinationPort].map { try port($0, "CTA_PROTO_DST_PORT") } ?? 0
        return ConntrackTuple(family: family, source: Array(source.prefix(length)), destination: Array(destination.prefix(length)),
                              ipProtocol: number, sourcePort: sourcePort, destinationPort: destinationPort)
    }

    /// A big-endian 4-octet attribute payload.
    static func bigEndian(_ bytes: ArraySlice<UInt8>, _ name: String) throws -> UInt32 {
        guard bytes.count == 4 else { throw NetlinkError.malformed("\(name) has \(bytes.count) octets, not 4") }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A big-endian port (exactly 2 octets).
    static func port(_ bytes: ArraySlice<UInt8>, _ name: String) throws -> UInt16 {
        guard bytes.count == 2 else { throw NetlinkError.malformed("\(name) has \(bytes.count) octets, not 2") }
        return UInt16(bytes[bytes.startIndex]) << 8 | UInt16(bytes[bytes.startIndex + 1])
    }

    enum Attribute {
        static let tupleOriginal = UInt16(CTA_TUPLE_ORIG.rawValue)
        static let protocolInfo = UInt16(CTA_PROTOINFO.rawValue)
        static let id = UInt16(CTA_ID.rawValue)
        static let tupleIP = UInt16(CTA_TUPLE_IP.rawValue)
        static let tupleProtocol = UInt16(CTA_TUPLE_PROTO.rawValue)
        static let ipv4Source = UInt16(CTA_IP_V4_SRC.rawValue)
        static let ipv4Destination = UInt16(CTA_IP_V4_DST.rawValue)
        static let ipv6Source = UInt16(CTA_IP_V6_SRC.rawValue)
        static let ipv6Destination = UInt16(CTA_IP_V6_DST.rawValue)
        static let protocolNumber = UInt16(CTA_PROTO_NUM.rawValue)
        static let sourcePort = UInt16(CTA_PROTO_SRC_PORT.rawValue)
        static let destinationPort = UInt16(CTA_PROTO_DST_PORT.rawValue)
        static let protocolInfoTCP = UInt16(CTA_PROTOINFO_TCP.rawValue)
        static let tcpState = UInt16(CTA_PROTOINFO_TCP_STATE.rawValue)
    }

    /// The minimum lengths that make every read above safe; other attributes are skipped.
    enum Policy {
        static let conntrack = NetlinkAttributePolicy(maxType: Attribute.id, minimumLengths: [Attribute.id: 4])
        static let tuple = NetlinkAttributePolicy(maxType: Attribute.tupleProtocol)
        static let ip = NetlinkAttributePolicy(maxType: Attribute.ipv6Destination, minimumLengths: [
            Attribute.ipv4Source: 4, Attribute.ipv4Destination: 4, Attribute.ipv6Source: 16, Attribute.ipv6Destination: 16])
        static let proto = NetlinkAttributePolicy(maxType: Attribute.destinationPort, minimumLengths: [
            Attribute.protocolNumber: 1, Attribute.sourcePort: 2, Attribute.destinationPort: 2])
        static let protocolInfo = NetlinkAttributePolicy(maxType: Attribute.protocolInfoTCP)
        static let tcpInfo = NetlinkAttributePolicy(maxType: Attribute.tcpState, minimumLengths: [Attribute.tcpState: 1])
    }
}
