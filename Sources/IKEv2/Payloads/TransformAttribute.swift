// Transform attributes (RFC 7296 section 3.3.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |A|       Attribute Type        |    AF=0  Attribute Length     |
// |F|                             |    AF=1  Attribute Value      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                   AF=0  Attribute Value                       |
// |                   AF=1  Not Transmitted                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// Attribute Type of a transform attribute (15 bits). Open.
public struct TransformAttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue & 0x7FFF }

    /// Key Length in bits (TV format), for ciphers with variable key sizes (AES).
    public static let keyLength = TransformAttributeType(rawValue: 14)

    public var description: String { self == .keyLength ? "KEY_LENGTH" : "ATTRIBUTE_\(rawValue)" }
}

/// One transform attribute: either TV (AF=1, a two-octet value in the header) or TLV
/// (AF=0, a variable value after a length).
public struct TransformAttribute: Hashable, Sendable, CustomStringConvertible {
    /// The attribute's value in one of the two formats.
    public enum Value: Hashable, Sendable {
        /// TV format: the value is the two octets after the type.
        case short(UInt16)
        /// TLV format: a variable-length value.
        case variable([UInt8])
    }

    public var type: TransformAttributeType
    public var value: Value

    public init(type: TransformAttributeType, value: Value) {
        self.type = type
        self.value = value
    }

    /// The Key Length attribute (TV) for `bits`.
    public static func keyLength(_ bits: UInt16) -> TransformAttribute {
        TransformAttribute(type: .keyLength, value: .short(bits))
    }

    public init(parsing buffer: inout ByteBuffer) throws {
        let typeAndFormat: UInt16 = try buffer.readIKEInteger("transform attribute")
        type = TransformAttributeType(rawValue: typeAndFormat)
        let lengthOrValue: UInt16 = try buffer.readIKEInteger("transform attribute")
        if typeAndFormat & 0x8000 != 0 {
            value = .short(lengthOrValue)
        } else {
            value = .variable(try buffer.readIKEBytes("transform attribute value", length: Int(lengthOrValue)))
        }
    }

    public func write(to buffer: inout ByteBuffer) {
        switch value {
        case .short(let short):
            buffer.writeInteger(type.rawValue | 0x8000)
            buffer.writeInteger(short)
        case .variable(let bytes):
            buffer.writeInteger(type.rawValue)
            buffer.writeInteger(UInt16(truncatingIfNeeded: bytes.count))
            buffer.writeBytes(bytes)
        }
    }

    public var description: String {
        switch value {
        case .short(let short): return "\(type)=\(short)"
        case .variable(let bytes): return "\(type)(\(bytes.count) octets)"
        }
    }
}
