// Sending peers to another gateway (RFC 5685), for draining a routing node or spreading
// peers over several DVIPAs:
//
//     vipsec {
//         redirect {
//             gateway = 192.0.2.101      # an address or a host name the peers can resolve
//             above_ike_sas = 5000       # only while this many IKE_SAs are held [0: always]
//         }
//     }
//
// A peer's IKE_SA_INIT that announces REDIRECT_SUPPORTED is then answered with
// N(REDIRECT) and no state is kept; a peer that does not announce it is served as usual.
import IKEv2

/// `vipsec { redirect { } }`.
public struct RedirectSettings: Sendable, Equatable {
    /// Where peers are sent.
    public var gateway: RedirectNotification.Gateway
    /// Redirect new IKE_SAs only while at least this many IKE_SAs (established and
    /// half-open) are held; 0 redirects every one (a drain).
    public var aboveIKESAs: Int

    public init(gateway: RedirectNotification.Gateway, aboveIKESAs: Int = 0) {
        self.gateway = gateway
        self.aboveIKESAs = aboveIKESAs
    }

    /// The gateway for an address or a host name; nil for text that is neither.
    public static func gateway(_ text: String) -> RedirectNotification.Gateway? {
        if let address = IPPrefix.parseAddress(text) { return address.count == 4 ? .ipv4(address) : .ipv6(address) }
        let name = text.hasPrefix("@") ? String(text.dropFirst()) : text
        guard !name.isEmpty, name.utf8.count <= 255, name.contains("."),
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else { return nil }
        return .fqdn(name)
    }

    init(reading reader: inout SectionReader) throws {
        guard let entry = reader.entry("gateway") else { throw reader.error(missing: "gateway") }
        guard let gateway = Self.gateway(entry.value) else {
            throw reader.error(entry, "'\(entry.value)' is neither an IP address nor a host name")
        }
        self.gateway = gateway
        aboveIKESAs = try reader.integer("above_ike_sas", default: 0, range: 0...10_000_000)
        try reader.rejectUnknown()
    }
}
