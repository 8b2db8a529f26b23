// The data of the REDIRECT and REDIRECTED_FROM notifies (RFC 5685 sections 8 and 9).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | GW Ident Type |  GW Ident Len |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               ~
// ~                   New Responder GW Identity                   ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        Nonce Data                             ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// In an IKE_SA_INIT response the Nonce Data is the initiator's Ni (so the redirect answers
// that very request); in an INFORMATIONAL request (an established IKE_SA) there is none.
// REDIRECTED_FROM carries the identity alone.

/// The gateway a REDIRECT names, and the nonce it echoes.
public struct RedirectNotification: Hashable, Sendable {
    /// GW Ident Type.
    public enum Gateway: Hashable, Sendable, CustomStringConvertible {
        case ipv4([UInt8])
        case ipv6([UInt8])
        case fqdn(String)

        public var description: String {
            switch self {
            case .ipv4(let address), .ipv6(let address): return IKEEndpoint(address: address, port: 0).host
            case .fqdn(let name): return name
            }
        }
    }

    public var gateway: Gateway
    /// Ni of the redirected IKE_SA_INIT request; empty in INFORMATIONAL.
    public var nonce: [UInt8]

    public init(gateway: Gateway, nonce: [UInt8] = []) {
        self.gateway = gateway
        self.nonce = nonce
    }

    /// The notification data.
    public var data: [UInt8] {
        let (type, identity): (UInt8, [UInt8])
        switch gateway {
        case .ipv4(let address): (type, identity) = (1, address)
        case .ipv6(let address): (type, identity) = (2, address)
        case .fqdn(let name): (type, identity) = (3, Array(name.utf8))
        }
        return [type, UInt8(truncatingIfNeeded: identity.count)] + identity + nonce
    }

    /// Parses notification data; throws on an unknown type or lengths that do not fit.
    public init(parsing data: [UInt8]) throws {
        guard data.count >= 2 else { throw IKEParseError.invalidValue("REDIRECT data length", data.count) }
        let length = Int(data[1])
        guard data.count >= 2 + length else { throw IKEParseError.invalidValue("REDIRECT GW Ident Len", length) }
        let identity = Array(data[2..<2 + length])
        switch data[0] {
        case 1 where length == 4: gateway = .ipv4(identity)
        case 2 where length == 16: gateway = .ipv6(identity)
        case 3 where length > 0: gateway = .fqdn(String(decoding: identity, as: UTF8.self))
        default: throw IKEParseError.invalidValue("REDIRECT GW Ident Type", Int(data[0]))
        }
        nonce = Array(data[(2 + length)...])
    }
}
