import CMNL
import Glibc

/// An IPv4 or IPv6 address as XFRM carries it (xfrm_address_t, network byte order).
public struct XFRMAddress: Hashable, Sendable, CustomStringConvertible {
    /// AF_INET or AF_INET6.
    public let family: UInt16
    /// 4 or 16 bytes, network order.
    public let bytes: [UInt8]

    /// Parses dotted IPv4 or textual IPv6; nil for anything else.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            family = UInt16(AF_INET)
            bytes = withUnsafeBytes(of: v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            family = UInt16(AF_INET6)
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            return
        }
        return nil
    }

    /// An address from raw bytes of `family`; nil when the length does not match.
    public init?(family: UInt16, bytes: some Collection<UInt8>) {
        let expected = family == UInt16(AF_INET) ? 4 : family == UInt16(AF_INET6) ? 16 : -1
        guard bytes.count == expected else { return nil }
        self.family = family
        self.bytes = Array(bytes)
    }

    /// 0.0.0.0.
    public static let anyIPv4 = XFRMAddress(family: UInt16(AF_INET), bytes: [0, 0, 0, 0])!
    /// ::.
    public static let anyIPv6 = XFRMAddress(family: UInt16(AF_INET6), bytes: [UInt8](repeating: 0, count: 16))!

    /// The unspecified address of `family`.
    public static func unspecified(family: UInt16) -> XFRMAddress {
        family == UInt16(AF_INET6) ? anyIPv6 : anyIPv4
    }

    /// Whether this is IPv6.
    public var isIPv6: Bool { family == UInt16(AF_INET6) }

    /// The longest prefix of this family (32 or 128).
    public var maxPrefixLength: UInt8 { isIPv6 ? 128 : 32 }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let result = bytes.withUnsafeBytes { raw in
            inet_ntop(Int32(family), raw.baseAddress, &text, socklen_t(text.count))
        }
        guard result != nil else { return "?" }
        return String(cString: text)
    }

    /// Reads an address of `family` out of an `xfrm_address_t`.
    init(_ raw: xfrm_address_t, family: UInt16) {
        let length = family == UInt16(AF_INET6) ? 16 : 4
        let all = withUnsafeBytes(of: raw) { Array($0.prefix(length)) }
        self.family = family == UInt16(AF_INET6) ? UInt16(AF_INET6) : UInt16(AF_INET)
        bytes = all
    }

    /// Writes this address into an `xfrm_address_t` (the rest stays zero).
    func write(to raw: inout xfrm_address_t) {
        withUnsafeMutableBytes(of: &raw) { target in
            for index in 0..<target.count { target[index] = index < bytes.count ? bytes[index] : 0 }
        }
    }
}

/// Secret key bytes: never printed, wiped when the last copy goes away.
public struct XFRMKey: Sendable, Equatable, CustomStringConvertible {
    private final class Storage: @unchecked Sendable {
        var bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        deinit {
            bytes.withUnsafeMutableBytes { raw in
                if let base = raw.baseAddress { explicit_bzero(base, raw.count) }
            }
        }
    }
    private let storage: Storage

    /// Wraps `bytes`; the caller should wipe its own copy.
    public init(_ bytes: [UInt8]) { storage = Storage(bytes) }

    /// Parses hex ("0x" optional); nil when not hex.
    public init?(hex: String) {
        var text = Substring(hex)
        if text.hasPrefix("0x") { text = text.dropFirst(2) }
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        storage = Storage(bytes)
    }

    /// The key length in bytes.
    public var count: Int { storage.bytes.count }

    /// Gives `body` the key bytes, e.g. to copy them into a netlink message.
    public func withBytes<R>(_ body: ([UInt8]) throws -> R) rethrows -> R { try body(storage.bytes) }

    public static func == (lhs: XFRMKey, rhs: XFRMKey) -> Bool {
        lhs.storage.bytes == rhs.storage.bytes
    }

    /// Always redacted: "<key 20 bytes>".
    public var description: String { "<key \(count) bytes>" }
}
