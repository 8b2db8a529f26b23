// Delete payload (RFC 7296 section 3.11).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Protocol ID   |   SPI Size    |          Num of SPIs          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~               Security Parameter Index(es) (SPI)              ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// D: deletes the IKE SA (protocol IKE, no SPIs) or CHILD_SAs (AH/ESP, the sender's
/// inbound SPIs, four octets each).
public struct DeletePayload: Hashable, Sendable, CustomStringConvertible {
    public var protocolID: ProtocolID
    /// Octets of each SPI: 0 for IKE, 4 for AH and ESP.
    public var spiSize: UInt8
    public var spis: [[UInt8]]

    public init(protocolID: ProtocolID, spiSize: UInt8, spis: [[UInt8]]) {
        self.protocolID = protocolID
        self.spiSize = spiSize
        self.spis = spis
    }

    /// Deletes the IKE SA the message is protected under.
    public static var ikeSA: DeletePayload { DeletePayload(protocolID: .ike, spiSize: 0, spis: []) }

    /// Deletes CHILD_SAs by their 32-bit SPIs.
    public init(protocolID: ProtocolID, spis32: [UInt32]) {
        self.init(protocolID: protocolID, spiSize: 4, spis: spis32.map { spi in
            [UInt8(spi >> 24), UInt8(truncatingIfNeeded: spi >> 16), UInt8(truncatingIfNeeded: spi >> 8), UInt8(truncatingIfNeeded: spi)]
        })
    }

    /// The SPIs as 32-bit numbers (when the SPI size is 4).
    public var spis32: [UInt32] {
        guard spiSize == 4 else { return [] }
        return spis.map { $0.reduce(0) { $0 << 8 | UInt32($1) } }
    }

    /// Reads the body. For IKE the SPI size must be 0 (RFC 7296 3.11), for AH/ESP 4; the
    /// SPIs must fill the body exactly. With SPI size 0 the Num of SPIs is not used (as
    /// strongSwan, any count with no SPI octets is accepted) and is written back as 0.
    public init(parsing body: inout ByteBuffer) throws {
        protocolID = ProtocolID(rawValue: try body.readIKEInteger("Delete payload"))
        spiSize = try body.readIKEInteger("Delete payload")
        let count: UInt16 = try body.readIKEInteger("Delete payload")
        if protocolID == .ike && spiSize != 0 {
            throw IKEParseError.invalidValue("Delete IKE SPI size", Int(spiSize))
        }
        if (protocolID == .esp || protocolID == .ah) && spiSize != 4 {
            throw IKEParseError.invalidValue("Delete SPI size", Int(spiSize))
        }
        let spiCount = spiSize == 0 ? 0 : Int(count)
        guard spiCount <= IKELimits.maxDeleteSPIs else {
            throw IKEParseError.tooMany("Delete SPIs", limit: IKELimits.maxDeleteSPIs)
        }
        guard spiCount * Int(spiSize) == body.readableBytes else {
            throw IKEParseError.invalidLength("Delete SPIs", body.readableBytes)
        }
        var spis: [[UInt8]] = []
        spis.reserveCapacity(spiCount)
        for _ in 0..<spiCount { spis.append(try body.readIKEBytes("Delete SPI", length: Int(spiSize))) }
        self.spis = spis
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(protocolID.rawValue)
        buffer.writeInteger(spiSize)
        buffer.writeInteger(UInt16(truncatingIfNeeded: spis.count))
        for spi in spis { buffer.writeBytes(spi) }
    }

    public var description: String { "D(\(protocolID), \(spis.count) SPIs)" }
}
