// Vendor ID payload (RFC 7296 section 3.12).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                        Vendor ID (VID)                        ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// V: an opaque vendor identifier (e.g. strongSwan's MD5 of "strongSwan").
public struct VendorIDPayload: Hashable, Sendable, CustomStringConvertible {
    public var vendorID: [UInt8]

    public init(vendorID: [UInt8]) { self.vendorID = vendorID }

    /// Reads the body; an empty Vendor ID is invalid.
    public init(parsing body: inout ByteBuffer) throws {
        vendorID = body.readIKERemainingBytes()
        if vendorID.isEmpty { throw IKEParseError.invalidLength("vendor ID", 0) }
    }

    public func write(to buffer: inout ByteBuffer) { buffer.writeBytes(vendorID) }

    public var description: String { "V(\(vendorID.count) octets)" }
}
