import CMNL
import Glibc
import Netlink

/// One template of a policy (struct xfrm_user_tmpl):
/// `tmpl src S dst D proto esp [spi SPI] reqid R mode tunnel [level use]`.
public struct XFRMTemplate: Hashable, Sendable {
    /// Tunnel endpoints; nil in transport mode (any).
    public var source: XFRMAddress?
    public var destination: XFRMAddress?
    public var proto: XFRMProtocol
    public var spi: UInt32
    public var reqid: UInt32
    public var mode: XFRMMode
    /// `level use`: the SA is optional.
    public var optional: Bool
    /// Family of the template; taken from the endpoints when set.
    public var family: UInt16

    public init(source: XFRMAddress? = nil, destination: XFRMAddress? = nil, proto: XFRMProtocol = .esp,
                spi: UInt32 = 0, reqid: UInt32 = 0, mode: XFRMMode = .transport, optional: Bool = false,
                family: UInt16? = nil) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.spi = spi
        self.reqid = reqid
        self.mode = mode
        self.optional = optional
        self.family = family ?? destination?.family ?? source?.family ?? 0
    }

    func write(to tmpl: inout xfrm_user_tmpl) {
        destination?.write(to: &tmpl.id.daddr)
        tmpl.id.spi = spi.bigEndian
        tmpl.id.proto = proto.rawValue
        tmpl.family = family
        source?.write(to: &tmpl.saddr)
        tmpl.reqid = reqid
        tmpl.mode = mode.rawValue
        tmpl.optional = optional ? 1 : 0
        tmpl.aalgos = UInt32.max
        tmpl.ealgos = UInt32.max
        tmpl.calgos = UInt32.max
    }

    init(_ tmpl: xfrm_user_tmpl) {
        let source = XFRMAddress(tmpl.saddr, family: tmpl.family)
        let destination = XFRMAddress(tmpl.id.daddr, family: tmpl.family)
        self.init(source: source.bytes.allSatisfy { $0 == 0 } ? nil : source,
                  destination: destination.bytes.allSatisfy { $0 == 0 } ? nil : destination,
                  proto: XFRMProtocol(rawValue: tmpl.id.proto), spi: UInt32(bigEndian: tmpl.id.spi),
                  reqid: tmpl.reqid, mode: XFRMMode(rawValue: tmpl.mode), optional: tmpl.optional != 0,
                  family: tmpl.family)
    }
}

/// Which policy: selector + direction (+ mark, interface id), or its index.
/// `ip xfrm policy get|delete sel... dir DIR [mark M] [if_id I]` or `index N dir DIR`.
public struct XFRMPolicyID: Hashable, Sendable {
    public var selector: XFRMSelector
    public var direction: XFRMPolicyDirection
    public var index: UInt32
    public var mark: XFRMMark?
    public var interfaceID: UInt32?

    public init(selector: XFRMSelector, direction: XFRMPolicyDirection, index: UInt32 = 0,
                mark: XFRMMark? = nil, interfaceID: UInt32? = nil) {
        self.selector = selector
        self.direction = direction
        self.index = index
        self.mark = mark
        self.interfaceID = interfaceID
    }
}

/// A policy to install, or one read back:
/// `ip xfrm policy add|update SELECTOR dir in|out|fwd [priority P] [action allow|block]
/// [mark M mask K] [if_id I] [tmpl ...]...`.
public struct XFRMPolicy: Hashable, Sendable {
    public var selector: XFRMSelector
    public var direction: XFRMPolicyDirection
    public var action: XFRMPolicyAction
    public var priority: UInt32
    /// Kernel-assigned index (read back; 0 when adding lets the kernel pick).
    public var index: UInt32
    public var templates: [XFRMTemplate]
    public var lifetime: XFRMLifetime
    public var mark: XFRMMark?
    public var interfaceID: UInt32?
    /// Current use (read back).
    public var current: XFRMCurrentLifetime

    public init(selector: XFRMSelector, direction: XFRMPolicyDirection, action: XFRMPolicyAction = .allow,
                priority: UInt32 = 0, index: UInt32 = 0, templates: [XFRMTemplate] = [],
                lifetime: XFRMLifetime = .unlimited, mark: XFRMMark? = nil, interfaceID: UInt32? = nil) {
        self.selector = selector
        self.direction = direction
        self.action = action
        self.priority = priority
        self.index = index
        self.templates = templates
        self.lifetime = lifetime
        self.mark = mark
        self.interfaceID = interfaceID
        current = XFRMCurrentLifetime()
    }

    /// This policy's lookup key.
    public var id: XFRMPolicyID {
        XFRMPolicyID(selector: selector, direction: direction, mark: mark, interfaceID: interfaceID)
    }

    /// Checks direction, template count and families.
    public func validate() throws {
        guard direction.rawValue <= 2 else {
            throw XFRMError.invalidArgument("policy direction \(direction.rawValue) is not in/out/fwd")
        }
        guard templates.count <= 6 else {   // XFRM_MAX_DEPTH
            throw XFRMError.invalidArgument("\(templates.count) templates, the kernel allows 6")
        }
        if let source = selector.source, let destination = selector.destination,
           source.address.family != destination.address.family {
            throw XFRMError.invalidArgument("selector source and destination are different families")
        }
        for template in templates {
            if let source = template.source, let destination = template.destination, source.family != destination.family {
                throw XFRMError.invalidArgument("template \(source) -> \(destination) mixes families")
            }
            if template.mode == .tunnel && (template.source == nil || template.destination == nil) {
                throw XFRMError.invalidArgument("a tunnel-mode template needs both endpoints")
            }
        }
    }

    init(parsing message: NetlinkMessage) throws {
        let info = try message.fixedHeader(xfrm_userpolicy_info.self)
        let attributes = try message.attributes(after: MemoryLayout<xfrm_userpolicy_info>.size,
                                                policy: NetlinkAttributePolicyXFRM.xfrm)
        try self.init(info, attributes: attributes)
    }

    init(_ info: xfrm_userpolicy_info, attributes: NetlinkAttributes) throws {
        var templates: [XFRMTemplate] = []
        if let bytes = attributes[XFRMAttributeType.template.rawValue] {
            let size = MemoryLayout<xfrm_user_tmpl>.size
            guard bytes.count % size == 0 else {
                throw NetlinkError.malformed("XFRMA_TMPL of \(bytes.count) bytes is not a multiple of \(size)")
            }
            let raw = Array(bytes)
            for offset in stride(from: 0, to: raw.count, by: size) {
                let tmpl = try raw[offset..<(offset + size)].withUnsafeBytes {
                    try netlinkStruct(xfrm_user_tmpl.self, from: $0)
                }
                templates.append(XFRMTemplate(tmpl))
            }
        }
        let mark = try attributes.load(XFRMAttributeType.mark.rawValue, as: xfrm_mark.self)
        self.init(selector: XFRMSelector(info.sel), direction: XFRMPolicyDirection(rawValue: info.dir),
                  action: XFRMPolicyAction(rawValue: info.action), priority: info.priority, index: info.index,
                  templates: templates, lifetime: XFRMLifetime(info.lft),
                  mark: mark.map { XFRMMark(value: $0.v, mask: $0.m) },
                  interfaceID: try attributes.u32(XFRMAttributeType.interfaceID.rawValue))
        current = XFRMCurrentLifetime(info.curlft)
    }
}

/// Builds the XFRM policy messages, as iproute2 does.
enum XFRMPolicyMessages {
    static func add(_ policy: XFRMPolicy, update: Bool) throws -> NetlinkMessageBuilder {
        let type: XFRMMessageType = update ? .updatePolicy : .newPolicy
        let message = NetlinkMessageBuilder(type: type.rawValue, flags: 0, capacity: 1024)
        try message.appendHeader(xfrm_userpolicy_info.self) { info in
            policy.selector.write(to: &info.sel)
            policy.lifetime.write(to: &info.lft)
            info.priority = policy.priority
            info.index = policy.index
            info.dir = policy.direction.rawValue
            info.action = policy.action.rawValue
        }
        if !policy.templates.isEmpty {
            let size = MemoryLayout<xfrm_user_tmpl>.size
            try message.appendAttribute(type: XFRMAttributeType.template.rawValue, length: size * policy.templates.count) { raw in
                for (index, template) in policy.templates.enumerated() {
                    let slot = (raw.baseAddress! + index * size).bindMemory(to: xfrm_user_tmpl.self, capacity: 1)
                    template.write(to: &slot.pointee)
                }
            }
        }
        if let mark = policy.mark { try XFRMStateMessages.appendMark(mark, to: message) }
        if let interfaceID = policy.interfaceID {
            try message.appendAttribute(type: XFRMAttributeType.interfaceID.rawValue, u32: interfaceID)
        }
        return message
    }

    /// xfrm_userpolicy_id + mark + if_id, for GETPOLICY and DELPOLICY.
    static func byID(_ id: XFRMPolicyID, type: XFRMMessageType) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: type.rawValue, flags: 0, capacity: 256)
        try message.appendHeader(xfrm_userpolicy_id.self) { value in
            id.selector.write(to: &value.sel)
            value.index = id.index
            value.dir = id.direction.rawValue
        }
        if let mark = id.mark { try XFRMStateMessages.appendMark(mark, to: message) }
        if let interfaceID = id.interfaceID {
            try message.appendAttribute(type: XFRMAttributeType.interfaceID.rawValue, u32: interfaceID)
        }
        return message
    }

    static func flush() -> NetlinkMessageBuilder {
        NetlinkMessageBuilder(type: XFRMMessageType.flushPolicy.rawValue, flags: 0, capacity: 64)
    }

    static func dump() -> NetlinkMessageBuilder {
        NetlinkMessageBuilder(type: XFRMMessageType.getPolicy.rawValue, flags: 0, capacity: 64)
    }
}
