// Authentication payload (RFC 7296 section 3.8).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Auth Method   |                RESERVED                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                      Authentication Data                      ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// AUTH: the proof of identity (a PSK MAC or a signature over the signed octets).
public struct AuthenticationPayload: Hashable, Sendable, CustomStringConvertible {
    public var method: AuthenticationMethod
    public var authenticationData: [UInt8]

    public init(method: AuthenticationMethod, authenticationData: [UInt8]) {
        self.method = method
        self.authenticationData = authenticationData
    }

    /// Reads the body; the authentication data must not be empty.
    public init(parsing body: inout ByteBuffer) throws {
        method = AuthenticationMethod(rawValue: try body.readIKEInteger("AUTH payload"))
        _ = try body.readIKEBytes("AUTH payload", length: 3)
        authenticationData = body.readIKERemainingBytes()
        if authenticationData.isEmpty { throw IKEParseError.invalidLength("authentication data", 0) }
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(method.rawValue)
        buffer.writeBytes([0, 0, 0])
        buffer.writeBytes(authenticationData)
    }

    /// Never prints the authentication data.
    public var description: String { "AUTH(\(method), \(authenticationData.count) octets)" }
}
