// Proposal substructure (RFC 7296 section 3.3.1).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |         Proposal Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        SPI (variable)                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                        <Transforms>                           ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Last Substruc: 0 for the last proposal of an SA payload, 2 when more follow.

import NIOCore

/// One proposal: a protocol, an SPI and the transforms offered (several per type = a
/// choice) or chosen (one per type).
public struct Proposal: Hashable, Sendable, CustomStringConvertible {
    static let moreFollow: UInt8 = 2
    static let headerLength = 8

    /// Proposal Num: 1 for the first proposal, one more for each next one.
    public var number: UInt8
    public var protocolID: ProtocolID
    /// The sender's SPI: empty in IKE_SA_INIT, 8 octets for an IKE SA rekey, 4 for AH/ESP.
    public var spi: [UInt8]
    public var transforms: [Transform]

    public init(number: UInt8, protocolID: ProtocolID, spi: [UInt8] = [], transforms: [Transform]) {
        self.number = number
        self.protocolID = protocolID
        self.spi = spi
        self.transforms = transforms
    }

    /// The transforms of one type, in the order offered.
    public func transforms(ofType type: TransformType) -> [Transform] {
        transforms.filter { $0.type == type }
    }

    /// The first transform of a type (the chosen one, in a selected proposal).
    public func first(_ type: TransformType) -> Transform? {
        transforms.first { $0.type == type }
    }

    /// The SPI as a 32-bit number (AH/ESP), if it has 4 octets.
    public var spi32: UInt32? {
        guard spi.count == 4 else { return nil }
        return spi.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Reads one proposal; `isLast` tells whether its Last Substruc said no more follow.
    /// The Num Transforms field must be at least 1 and match the transforms present.
    static func parse(from buffer: inout ByteBuffer) throws -> (proposal: Proposal, isLast: Bool) {
        let last: UInt8 = try buffer.readIKEInteger("proposal")
        guard last == 0 || last == moreFollow else { throw IKEParseError.invalidValue("proposal Last Substruc", Int(last)) }
        _ = try buffer.readIKEInteger("proposal", as: UInt8.self)
        let length: UInt16 = try buffer.readIKEInteger("proposal")
        guard Int(length) >= headerLength else { throw IKEParseError.invalidLength("proposal", Int(length)) }
        var body = try buffer.readIKESlice("proposal", length: Int(length) - 4)
        let number: UInt8 = try body.readIKEInteger("proposal")
        let protocolID = ProtocolID(rawValue: try body.readIKEInteger("proposal"))
        let spiSize: UInt8 = try body.readIKEInteger("proposal")
        let transformCount: UInt8 = try body.readIKEInteger("proposal")
        guard transformCount > 0 else { throw IKEParseError.invalidValue("proposal Num Transforms", 0) }
        guard Int(transformCount) <= IKELimits.maxTransformsPerProposal else {
            throw IKEParseError.tooMany("transforms", limit: IKELimits.maxTransformsPerProposal)
        }
        let spi = try body.readIKEBytes("proposal SPI", length: Int(spiSize))
        var transforms: [Transform] = []
        transforms.reserveCapacity(Int(transformCount))
        var sawLast = false
        while !sawLast {
            let (transform, isLast) = try Transform.parse(from: &body)
            transforms.append(transform)
            sawLast = isLast
            if !isLast && transforms.count >= Int(transformCount) {
                throw IKEParseError.invalidValue("proposal Num Transforms", Int(transformCount))
            }
        }
        if transforms.count != Int(transformCount) {
            throw IKEParseError.invalidValue("proposal Num Transforms", Int(transformCount))
        }
        try body.expectFullyRead("proposal")
        return (Proposal(number: number, protocolID: protocolID, spi: spi, transforms: transforms), last == 0)
    }

    func write(to buffer: inout ByteBuffer, isLast: Bool) {
        let start = buffer.writerIndex
        buffer.writeInteger(isLast ? UInt8(0) : Proposal.moreFollow)
        buffer.writeInteger(UInt8(0))
        let lengthIndex = buffer.reserveLength16()
        buffer.writeInteger(number)
        buffer.writeInteger(protocolID.rawValue)
        buffer.writeInteger(UInt8(truncatingIfNeeded: spi.count))
        buffer.writeInteger(UInt8(truncatingIfNeeded: transforms.count))
        buffer.writeBytes(spi)
        for (index, transform) in transforms.enumerated() {
            transform.write(to: &buffer, isLast: index == transforms.count - 1)
        }
        buffer.patchLength16(at: lengthIndex, from: start)
    }

    /// strongSwan-like text: `IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519`.
    public var description: String {
        "\(protocolID):" + transforms.map(\.description).joined(separator: "/")
    }
}
