import CMNL

/// What a family expects of its attributes: the highest known type and each type's
/// minimum payload length. Unknown types (above `maxType`) are skipped, not rejected.
public struct NetlinkAttributePolicy: Sendable {
    /// The highest attribute type this policy knows.
    public var maxType: UInt16
    /// Minimum payload length by type (index = type); 0 = any length.
    public var minimumLengths: [Int]

    public init(maxType: UInt16, minimumLengths: [UInt16: Int] = [:]) {
        self.maxType = maxType
        var table = [Int](repeating: 0, count: Int(maxType) + 1)
        for (type, length) in minimumLengths where type <= maxType { table[Int(type)] = length }
        self.minimumLengths = table
    }

    /// The extended-ack TLVs after NLMSG_ERROR / NLMSG_DONE.
    public static let extendedAck = NetlinkAttributePolicy(
        maxType: UInt16(NLMSGERR_ATTR_MAX.rawValue),
        minimumLengths: [UInt16(NLMSGERR_ATTR_OFFS.rawValue): 4])
}

/// A validated table of attributes read by type.
///
/// Parsing checks every attribute header against the bytes left and each known type against
/// its minimum length; anything malformed throws `NetlinkError.malformed`, never traps.
/// Unknown types are counted and skipped. A repeated type keeps the last one.
public struct NetlinkAttributes: Sendable {
    private let storage: [UInt8]
    private var ranges: [Range<Int>?]
    /// How many attributes had a type the policy does not know.
    public private(set) var skippedUnknown = 0

    /// Parses `bytes[offset...]` as a sequence of attributes under `policy`.
    public init(parsing bytes: [UInt8], from offset: Int, policy: NetlinkAttributePolicy) throws {
        storage = bytes
        ranges = [Range<Int>?](repeating: nil, count: Int(policy.maxType) + 1)
        var position = offset
        let headerLength = 4
        while bytes.count - position >= headerLength {
            let length = Int(bytes[position]) | Int(bytes[position + 1]) << 8
            let rawType = UInt16(bytes[position + 2]) | UInt16(bytes[position + 3]) << 8
            guard length >= headerLength, length <= bytes.count - position else {
                throw NetlinkError.malformed("attribute \(rawType & NetlinkAlignment.attributeTypeMask) claims "
                    + "\(length) bytes with \(bytes.count - position) left")
            }
            let type = rawType & NetlinkAlignment.attributeTypeMask
            let payload = (position + headerLength)..<(position + length)
            if type <= policy.maxType {
                let minimum = policy.minimumLengths[Int(type)]
                guard payload.count >= minimum else {
                    throw NetlinkError.malformed("attribute \(type) has \(payload.count) bytes, needs \(minimum)")
                }
                ranges[Int(type)] = payload
            } else {
                skippedUnknown += 1
            }
            position += NetlinkAlignment.align(length)
        }
    }

    /// The payload of attribute `type`, if present.
    public subscript(_ type: UInt16) -> ArraySlice<UInt8>? {
        guard Int(type) < ranges.count, let range = ranges[Int(type)] else { return nil }
        return storage[range]
    }

    /// Whether attribute `type` is present.
    public func contains(_ type: UInt16) -> Bool { self[type] != nil }

    /// Reads attribute `type` as the struct `T`; a payload shorter than `T` is malformed.
    public func load<T>(_ type: UInt16, as _: T.Type) throws -> T? {
        guard let bytes = self[type] else { return nil }
        guard bytes.count >= MemoryLayout<T>.size else {
            throw NetlinkError.malformed("attribute \(type) has \(bytes.count) bytes, \(T.self) needs \(MemoryLayout<T>.size)")
        }
        return try bytes.withUnsafeBytes { try netlinkStruct(T.self, from: $0) }
    }

    /// Reads attribute `type` as a host-order u32.
    public func u32(_ type: UInt16) throws -> UInt32? { try load(type, as: UInt32.self) }

    /// Reads attribute `type` as a host-order u64.
    public func u64(_ type: UInt16) throws -> UInt64? { try load(type, as: UInt64.self) }

    /// Parses attribute `type` as nested attributes.
    public func nested(_ type: UInt16, policy: NetlinkAttributePolicy) throws -> NetlinkAttributes? {
        guard let range = Int(type) < ranges.count ? ranges[Int(type)] : nil else { return nil }
        return try NetlinkAttributes(parsing: Array(storage[range]), from: 0, policy: policy)
    }
}
