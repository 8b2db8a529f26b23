// Value syntaxes of the configuration file, as strongSwan writes them:
// durations (`4h`, `30m`, `10s`, `1d`, bare seconds), byte counts (`500M`, `1G`, `64k`),
// comma-separated lists, IP prefixes (`10.1.0.0/24`, `fd00::/64`, `192.0.2.1`),
// and secrets (`0x` hex, `0s` base64, or a plain string).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An IPv4 or IPv6 prefix such as `10.1.0.0/24`.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address bytes (4 for IPv4, 16 for IPv6), host bits cleared.
    public var address: [UInt8]
    /// The prefix length in bits.
    public var prefixLength: Int

    public var isIPv4: Bool { address.count == 4 }

    /// Parses `a.b.c.d[/n]` or `x:y::z[/n]`; a bare address is a host prefix.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let bytes = IPPrefix.parseAddress(String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= maximum else { return nil }
            length = n
        }
        self.address = IPPrefix.mask(bytes, to: length)
        self.prefixLength = length
    }

    /// The first address of the prefix.
    public var firstAddress: [UInt8] { address }

    /// The last address of the prefix.
    public var lastAddress: [UInt8] {
        var bytes = address
        for bit in prefixLength..<(bytes.count * 8) { bytes[bit / 8] |= UInt8(0x80) >> UInt8(bit % 8) }
        return bytes
    }

    /// Parses a textual IPv4 or IPv6 address into its bytes.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// Formats address bytes (4 or 16) as text.
    public static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func mask(_ bytes: [UInt8], to length: Int) -> [UInt8] {
        var masked = bytes
        for bit in length..<(bytes.count * 8) { masked[bit / 8] &= ~(UInt8(0x80) >> UInt8(bit % 8)) }
        return masked
    }

    public var description: String { "\(IPPrefix.format(address))/\(prefixLength)" }
}

/// Parsers for the value syntaxes. Each returns nil on malformed text; the typed
/// config turns that into a `ConfigError` naming the key.
enum ConfigValue {
    /// A comma-separated list, items trimmed, empty items dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingBlanks() }.filter { !$0.isEmpty }
    }

    /// A duration in seconds: a number with an optional unit `s`, `m`, `h` or `d`.
    static func duration(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = text
        var factor = 1.0
        if let last = text.last, let unit = units[last] {
            number = String(text.dropLast())
            factor = unit
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        return value * factor
    }

    /// A byte or packet count: a whole number with an optional `k`, `m` or `g` (powers of 1024).
    static func count(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var number = text
        var factor: UInt64 = 1
        if let last = text.lowercased().last, let unit = units[last] {
            number = String(text.dropLast())
            factor = unit
        }
        guard let value = UInt64(number) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }

    /// A boolean: yes/no, true/false, 1/0.
    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "true", "1": return true
        case "no", "false", "0": return false
        default: return nil
        }
    }

    /// A secret: `0x` followed by hex digits, `0s` followed by base64, or the text itself.
    static func secret(_ text: String) -> [UInt8]? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = Array(text.dropFirst(2).utf8)
            guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(digits.count / 2)
            var i = 0
            while i < digits.count {
                guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else { return nil }
                bytes.append(high << 4 | low)
                i += 2
            }
            return bytes
        }
        if text.hasPrefix("0s") {
            guard let data = Data(base64Encoded: String(text.dropFirst(2))), !data.isEmpty else { return nil }
            return Array(data)
        }
        return text.isEmpty ? nil : Array(text.utf8)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
