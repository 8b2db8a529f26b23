import NIOCore

/// A value the cluster wire carries as its raw integer, big-endian, at the raw type's width
/// (SA ids and epochs u64, message types and codes u8, capabilities u32).
protocol ClusterWireValue: RawRepresentable where RawValue: FixedWidthInteger {
    init(rawValue: RawValue)
}

extension ClusterSAID: ClusterWireValue {}
extension ClusterEpoch: ClusterWireValue {}
extension ClusterMessageType: ClusterWireValue {}
extension NackReason: ClusterWireValue {}
extension KernelCapabilities: ClusterWireValue {}
extension SADirection: ClusterWireValue {}
extension IPsecProtocol: ClusterWireValue {}
extension SAMode: ClusterWireValue {}
extension SAAlgorithmKind: ClusterWireValue {}

// Reading helpers that name the field that was missing. Every read is bounds-checked by
// ByteBuffer; a short buffer becomes `ClusterWireError.truncated(field:)`.
extension ByteBuffer {
    mutating func readClusterInteger<T: FixedWidthInteger>(_ field: @autoclosure () -> String, as: T.Type = T.self) throws -> T {
        guard let value = readInteger(as: T.self) else { throw ClusterWireError.truncated(field: field()) }
        return value
    }

    mutating func readClusterValue<T: ClusterWireValue>(_ field: @autoclosure () -> String, as: T.Type = T.self) throws -> T {
        T(rawValue: try readClusterInteger(field()))
    }

    mutating func writeClusterValue<T: ClusterWireValue>(_ value: T) {
        writeInteger(value.rawValue)
    }

    mutating func readClusterBool(_ field: @autoclosure () -> String) throws -> Bool {
        let byte: UInt8 = try readClusterInteger(field())
        switch byte {
        case 0: return false
        case 1: return true
        default: throw ClusterWireError.invalidValue(field: field(), reason: "boolean byte \(byte)")
        }
    }

    mutating func writeClusterBool(_ value: Bool) {
        writeInteger(value ? 1 : 0, as: UInt8.self)
    }

    /// A string with a one-byte length prefix, UTF-8, at most `maximumLength` bytes.
    mutating func readClusterString(_ field: @autoclosure () -> String, maximumLength: Int = 255) throws -> String {
        let length = Int(try readClusterInteger(field() + " length", as: UInt8.self))
        guard length <= maximumLength else {
            throw ClusterWireError.invalidValue(field: field(), reason: "length \(length) exceeds \(maximumLength)")
        }
        guard let bytes = readBytes(length: length) else { throw ClusterWireError.truncated(field: field()) }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw ClusterWireError.invalidValue(field: field(), reason: "not UTF-8")
        }
        return string
    }

    /// Writes at most 255 bytes of `string` (longer strings are cut at a character boundary).
    mutating func writeClusterString(_ string: String) {
        var utf8 = Array(string.utf8)
        if utf8.count > 255 {
            var cut = 255
            while cut > 0 && (utf8[cut] & 0xC0) == 0x80 { cut -= 1 }
            utf8 = Array(utf8[..<cut])
        }
        writeInteger(UInt8(utf8.count))
        writeBytes(utf8)
    }

    mutating func readClusterNodeID(_ field: @autoclosure () -> String) throws -> NodeID {
        let name = try readClusterString(field(), maximumLength: NodeID.maximumLength)
        do {
            return try NodeID(name)
        } catch {
            throw ClusterWireError.invalidValue(field: field(), reason: "not a valid node id")
        }
    }

    mutating func writeClusterNodeID(_ node: NodeID) {
        writeClusterString(node.name)
    }

    /// An address: family byte (4 or 6) then 4 or 16 bytes.
    mutating func readClusterAddress(_ field: @autoclosure () -> String) throws -> IPAddress {
        let family: UInt8 = try readClusterInteger(field() + " family")
        let length: Int
        switch family {
        case 4: length = 4
        case 6: length = 16
        default: throw ClusterWireError.invalidValue(field: field(), reason: "address family \(family)")
        }
        guard let bytes = readBytes(length: length) else { throw ClusterWireError.truncated(field: field()) }
        return try IPAddress(bytes: bytes)
    }

    mutating func writeClusterAddress(_ address: IPAddress) {
        writeInteger(address.isIPv4 ? 4 : 6, as: UInt8.self)
        writeBytes(address.bytes)
    }

    /// Key bytes with a two-byte length prefix, copied straight into `SecretBytes`.
    mutating func readClusterSecret(_ field: @autoclosure () -> String, maximumLength: Int = 512) throws -> SecretBytes {
        let length = Int(try readClusterInteger(field() + " length", as: UInt16.self))
        guard length <= maximumLength else {
            throw ClusterWireError.invalidValue(field: field(), reason: "length \(length) exceeds \(maximumLength)")
        }
        guard readableBytes >= length else { throw ClusterWireError.truncated(field: field()) }
        let secret = SecretBytes(count: length) { destination in
            readWithUnsafeReadableBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<length]))
                return length
            }
        }
        return secret
    }

    mutating func writeClusterSecret(_ secret: SecretBytes) {
        writeInteger(UInt16(secret.count))
        secret.withUnsafeBytes { _ = writeBytes($0) }
    }

    /// A list count (two bytes) checked against `maximum` before anything is allocated.
    mutating func readClusterCount(_ field: @autoclosure () -> String, maximum: Int) throws -> Int {
        let count = Int(try readClusterInteger(field() + " count", as: UInt16.self))
        guard count <= maximum else {
            throw ClusterWireError.invalidValue(field: field(), reason: "count \(count) exceeds \(maximum)")
        }
        return count
    }

    /// A list: a two-byte count, checked against `maximum` before anything is allocated,
    /// then each element as `element` reads it.
    mutating func readClusterList<Element>(_ field: @autoclosure () -> String, maximum: Int,
                                           _ element: (inout ByteBuffer) throws -> Element) throws -> [Element] {
        let count = try readClusterCount(field(), maximum: maximum)
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try element(&self)) }
        return elements
    }

    /// Writes the two-byte count of `elements`, then each as `element` writes it.
    mutating func writeClusterList<C: Collection>(_ elements: C, _ element: (inout ByteBuffer, C.Element) -> Void) {
        writeInteger(UInt16(elements.count))
        for each in elements { element(&self, each) }
    }
}
