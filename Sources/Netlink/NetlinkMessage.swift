import CMNL
import Glibc

/// One received netlink message: the header fields and the payload after `nlmsghdr`.
public struct NetlinkMessage: Sendable {
    /// nlmsg_type.
    public var type: UInt16
    /// nlmsg_flags.
    public var flags: UInt16
    /// nlmsg_seq.
    public var sequence: UInt32
    /// nlmsg_pid: 0 for messages from the kernel.
    public var portID: UInt32
    /// The bytes after the 16-byte header, up to nlmsg_len.
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    static let headerLength = 16

    /// Overwrites the payload with zeroes where it lies. SA dumps, GETSA replies and SA
    /// notifications carry keys; the socket wipes every message it received once its caller
    /// has read it. A copy the caller kept (a Swift array shares its storage until one side
    /// writes) is the caller's to wipe: this then wipes only its own fresh copy.
    public mutating func wipePayload() {
        payload.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { explicit_bzero(base, raw.count) }
        }
    }

    /// Splits a datagram into messages, validating every nlmsg_len against what is left.
    public static func parseAll(_ bytes: UnsafeRawBufferPointer) throws -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while bytes.count - offset >= headerLength {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard length >= headerLength, length <= bytes.count - offset else {
                throw NetlinkError.malformed("message length \(length) with \(bytes.count - offset) bytes left")
            }
            let payloadStart = offset + headerLength
            messages.append(NetlinkMessage(
                type: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                flags: bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
                sequence: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                portID: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self),
                payload: Array(bytes[payloadStart..<(offset + length)])))
            offset += NetlinkAlignment.align(length)
        }
        return messages
    }

    /// Reads the family header `T` at the start of the payload; too short is malformed.
    public func fixedHeader<T>(_ type: T.Type) throws -> T {
        guard payload.count >= MemoryLayout<T>.size else {
            throw NetlinkError.malformed("message type \(self.type) payload is \(payload.count) bytes, "
                + "its header \(T.self) needs \(MemoryLayout<T>.size)")
        }
        return try payload.withUnsafeBytes { try netlinkStruct(T.self, from: $0) }
    }

    /// Parses the attributes that follow a family header of `headerSize` bytes.
    public func attributes(after headerSize: Int, policy: NetlinkAttributePolicy) throws -> NetlinkAttributes {
        try NetlinkAttributes(parsing: payload, from: NetlinkAlignment.align(headerSize), policy: policy)
    }

    /// True for NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP and NLMSG_OVERRUN.
    public var isControl: Bool { type < UInt16(NLMSG_MIN_TYPE) }

    /// For NLMSG_ERROR and NLMSG_DONE: the (negated) errno and extended-ack text.
    /// Returns nil errno 0 for a plain acknowledgement.
    public func status() throws -> (errno: Int32, message: String?) {
        guard payload.count >= 4 else {
            throw NetlinkError.malformed("NLMSG_ERROR/DONE without an error code")
        }
        let error = payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        var tlvOffset = 4
        if type == UInt16(NLMSG_ERROR) {
            // The request's header follows; the whole request unless the kernel capped it.
            guard payload.count >= 4 + NetlinkMessage.headerLength else {
                throw NetlinkError.malformed("NLMSG_ERROR shorter than its echoed header")
            }
            if flags & UInt16(NLM_F_CAPPED) != 0 {
                tlvOffset += NetlinkMessage.headerLength
            } else {
                let echoed = payload.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
                tlvOffset += NetlinkAlignment.align(max(echoed, NetlinkMessage.headerLength))
            }
        }
        var text: String?
        if flags & UInt16(NLM_F_ACK_TLVS) != 0, tlvOffset <= payload.count {
            let tlvs = try NetlinkAttributes(parsing: payload, from: tlvOffset, policy: .extendedAck)
            if let bytes = tlvs[UInt16(NLMSGERR_ATTR_MSG.rawValue)] {
                text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return (-error, text)
    }
}

/// Copies a plain C struct out of (possibly unaligned) bytes.
///
/// Imported C structs holding unions are not `BitwiseCopyable` to Swift, so this copies
/// through a fresh, aligned allocation instead of `loadUnaligned`. The caller has checked
/// `bytes.count >= MemoryLayout<T>.size`; `T` must be a trivial type (checked).

public func netlinkStruct<T>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
    guard _isPOD(T.self), bytes.count >= MemoryLayout<T>.size, let source = bytes.baseAddress else {
        throw NetlinkError.malformed("cannot read \(T.self) from \(bytes.count) bytes")
    }
    let target = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<T>.size, 1),
                                                  alignment: MemoryLayout<T>.alignment)
    defer { target.deallocate() }
    target.copyMemory(from: source, byteCount: MemoryLayout<T>.size)
    return target.load(as: T.self)
}
