import CMNL
import Glibc

/// Builds one netlink message in a fixed buffer: header, family header, attributes, nests.
///
/// Every append goes through one capacity check (`reserve`), so a message either fits or the
/// append throws `NetlinkError.messageTooLarge`; nothing is ever written past the buffer.
/// New bytes are zeroed before they are filled, so struct padding never leaks stale memory.
/// The buffer is wiped when the builder dies: messages carry SA keys.
public final class NetlinkMessageBuilder {
    /// The buffer size in bytes.
    public let capacity: Int
    private let buffer: UnsafeMutableRawPointer

    /// A started nested attribute, closed with `endNested(_:)`.
    public struct Nest {
        fileprivate let offset: Int
    }

    /// Starts a message of `type` with `flags` (NLM_F_REQUEST is always added).
    public init(type: UInt16, flags: UInt16 = 0, capacity: Int = 4096) {
        self.capacity = max(capacity, NetlinkAlignment.messageHeaderLength)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: self.capacity)
        let nlh = mnl_nlmsg_put_header(buffer)!
        nlh.pointee.nlmsg_type = type
        nlh.pointee.nlmsg_flags = flags | UInt16(NLM_F_REQUEST)
    }

    deinit {
        explicit_bzero(buffer, capacity)
        buffer.deallocate()
    }

    private var header: UnsafeMutablePointer<nlmsghdr> {
        buffer.assumingMemoryBound(to: nlmsghdr.self)
    }

    /// The message length so far (nlmsg_len).
    public var length: Int { Int(header.pointee.nlmsg_len) }

    /// The message type (nlmsg_type).
    public var type: UInt16 { header.pointee.nlmsg_type }

    /// The message flags (nlmsg_flags); set before sending, e.g. to add NLM_F_ACK.
    public var flags: UInt16 {
        get { header.pointee.nlmsg_flags }
        set { header.pointee.nlmsg_flags = newValue }
    }

    /// Sequence number and port id; the socket sets them when it sends.
    public var sequence: UInt32 {
        get { header.pointee.nlmsg_seq }
        set { header.pointee.nlmsg_seq = newValue }
    }

    /// The finished message bytes (valid while the builder lives).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer, count: length)
    }

    /// The one capacity check: room for `payload` more bytes (aligned) or a thrown error.
    private func reserve(_ payload: Int) throws -> Int {
        let start = NetlinkAlignment.align(length)
        let needed = start + NetlinkAlignment.align(payload)
        guard payload >= 0, needed <= capacity else {
            throw NetlinkError.messageTooLarge(needed: needed, capacity: capacity)
        }
        return start
    }

    /// Appends the zeroed family header `T` (e.g. `xfrm_usersa_info`) and lets `fill` set it
    /// in place.
    public func appendHeader<T>(_ type: T.Type, _ fill: (inout T) -> Void) throws {
        let size = MemoryLayout<T>.size
        _ = try reserve(size)
        let extra = mnl_nlmsg_put_extra_header(header, size)!
        fill(&extra.bindMemory(to: T.self, capacity: 1).pointee)
    }

    /// Appends an attribute of `length` zeroed payload bytes that `fill` writes.
    public func appendAttribute(type: UInt16, length: Int,
                                _ fill: (UnsafeMutableRawBufferPointer) -> Void) throws {
        let start = try reserve(NetlinkAlignment.attributeHeaderLength + length)
        let total = NetlinkAlignment.attributeHeaderLength + length
        guard total <= Int(UInt16.max) else {
            throw NetlinkError.messageTooLarge(needed: total, capacity: Int(UInt16.max))
        }
        let attr = (buffer + start).bindMemory(to: nlattr.self, capacity: 1)
        attr.pointee.nla_len = UInt16(total)
        attr.pointee.nla_type = type
        fill(UnsafeMutableRawBufferPointer(start: buffer + start + NetlinkAlignment.attributeHeaderLength, count: length))
        header.pointee.nlmsg_len = UInt32(start + NetlinkAlignment.align(total))
    }

    /// Appends an attribute holding the zeroed struct `T`, filled in place.
    public func appendAttribute<T>(type: UInt16, _ structType: T.Type, _ fill: (inout T) -> Void) throws {
        try appendAttribute(type: type, length: MemoryLayout<T>.size) { raw in
            fill(&raw.baseAddress!.bindMemory(to: T.self, capacity: 1).pointee)
        }
    }

    /// Appends an attribute with the given payload bytes.
    public func appendAttribute(type: UInt16, bytes: some Collection<UInt8>) throws {
        try appendAttribute(type: type, length: bytes.count) { raw in
            raw.copyBytes(from: bytes)
        }
    }

    /// Appends a host-order u32 attribute.
    public func appendAttribute(type: UInt16, u32 value: UInt32) throws {
        _ = try reserve(NetlinkAlignment.attributeHeaderLength + 4)
        mnl_attr_put_u32(header, type, value)
    }

    /// Appends a u8 attribute.
    public func appendAttribute(type: UInt16, u8 value: UInt8) throws {
        _ = try reserve(NetlinkAlignment.attributeHeaderLength + 1)
        mnl_attr_put_u8(header, type, value)
    }

    /// Opens a nested attribute; attributes appended until `endNested` go inside it.
    public func beginNested(type: UInt16) throws -> Nest {
        let start = try reserve(NetlinkAlignment.attributeHeaderLength)
        _ = mnl_attr_nest_start(header, type)
        return Nest(offset: start)
    }

    /// Closes a nested attribute, setting its length.
    public func endNested(_ nest: Nest) {
        let attr = (buffer + nest.offset).assumingMemoryBound(to: nlattr.self)
        mnl_attr_nest_end(header, attr)
    }
}

/// NLMSG_ALIGN / NLA_ALIGN: netlink pads everything to 4 bytes.
public enum NetlinkAlignment {
    @inlinable public static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

extension NetlinkAlignment {
    /// sizeof(struct nlmsghdr).
    public static let messageHeaderLength = 16
    /// sizeof(struct nlattr).
    public static let attributeHeaderLength = 4
    /// NLA_TYPE_MASK: the type bits without NLA_F_NESTED / NLA_F_NET_BYTEORDER.
    public static let attributeTypeMask: UInt16 = 0x3fff
}
