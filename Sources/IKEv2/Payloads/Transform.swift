// Transform substructure (RFC 7296 section 3.3.2).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |        Transform Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Transform Type |   RESERVED    |          Transform ID         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                      Transform Attributes                     ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Last Substruc: 0 for the last transform of a proposal, 3 when more follow.

import NIOCore

/// One algorithm offered or chosen in a proposal: a Transform Type and a Transform ID, with
/// attributes (in practice only Key Length).
public struct Transform: Hashable, Sendable, CustomStringConvertible {
    /// Last Substruc value of a transform that is followed by another.
    static let moreFollow: UInt8 = 3
    /// Octets before the attributes.
    static let headerLength = 8

    public var type: TransformType
    /// The Transform ID; read it through the typed accessors (`encryptionAlgorithm`, ...).
    public var id: UInt16
    public var attributes: [TransformAttribute]

    public init(type: TransformType, id: UInt16, attributes: [TransformAttribute] = []) {
        self.type = type
        self.id = id
        self.attributes = attributes
    }

    public init(_ algorithm: EncryptionAlgorithm, keyLength: UInt16? = nil) {
        self.init(type: .encryptionAlgorithm, id: algorithm.rawValue,
                  attributes: keyLength.map { [.keyLength($0)] } ?? [])
    }
    public init(_ prf: PseudorandomFunctionID) { self.init(type: .pseudorandomFunction, id: prf.rawValue) }
    public init(_ integrity: IntegrityAlgorithm) { self.init(type: .integrityAlgorithm, id: integrity.rawValue) }
    public init(_ group: KeyExchangeMethod) { self.init(type: .keyExchangeMethod, id: group.rawValue) }
    public init(_ esn: ExtendedSequenceNumbers) { self.init(type: .extendedSequenceNumbers, id: esn.rawValue) }

    /// The Key Length attribute in bits, if present (TV format).
    public var keyLength: UInt16? {
        for attribute in attributes where attribute.type == .keyLength {
            if case .short(let bits) = attribute.value { return bits }
        }
        return nil
    }

    /// Reads one transform; `isLast` tells whether its Last Substruc said no more follow.
    static func parse(from buffer: inout ByteBuffer) throws -> (transform: Transform, isLast: Bool) {
        let last: UInt8 = try buffer.readIKEInteger("transform")
        guard last == 0 || last == moreFollow else { throw IKEParseError.invalidValue("transform Last Substruc", Int(last)) }
        _ = try buffer.readIKEInteger("transform", as: UInt8.self)
        let length: UInt16 = try buffer.readIKEInteger("transform")
        guard Int(length) >= headerLength else { throw IKEParseError.invalidLength("transform", Int(length)) }
        var body = try buffer.readIKESlice("transform", length: Int(length) - 4)
        let type = TransformType(rawValue: try body.readIKEInteger("transform"))
        _ = try body.readIKEInteger("transform", as: UInt8.self)
        let id: UInt16 = try body.readIKEInteger("transform")
        var attributes: [TransformAttribute] = []
        while body.readableBytes > 0 {
            guard attributes.count < IKELimits.maxAttributesPerTransform else {
                throw IKEParseError.tooMany("transform attributes", limit: IKELimits.maxAttributesPerTransform)
            }
            attributes.append(try TransformAttribute(parsing: &body))
        }
        return (Transform(type: type, id: id, attributes: attributes), last == 0)
    }

    /// Writes the transform with the given Last Substruc.
    func write(to buffer: inout ByteBuffer, isLast: Bool) {
        let start = buffer.writerIndex
        buffer.writeInteger(isLast ? UInt8(0) : Transform.moreFollow)
        buffer.writeInteger(UInt8(0))
        let lengthIndex = buffer.reserveLength16()
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(id)
        for attribute in attributes { attribute.write(to: &buffer) }
        buffer.patchLength16(at: lengthIndex, from: start)
    }

    public var description: String {
        let name: String
        switch type {
        case .encryptionAlgorithm: name = EncryptionAlgorithm(rawValue: id).description
        case .pseudorandomFunction: name = PseudorandomFunctionID(rawValue: id).description
        case .integrityAlgorithm: name = IntegrityAlgorithm(rawValue: id).description
        case .keyExchangeMethod: name = KeyExchangeMethod(rawValue: id).description
        case .extendedSequenceNumbers: name = ExtendedSequenceNumbers(rawValue: id).description
        default: name = "\(type)/\(id)"
        }
        return keyLength.map { "\(name)_\($0)" } ?? name
    }
}
