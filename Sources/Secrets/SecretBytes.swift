// Key material that wipes itself: the holder for every secret the IKE code touches
// (Diffie-Hellman shared secrets, SKEYSEED, SK_*, KEYMAT, pre-shared keys) and for the SA
// keys the cluster hands to its targets. IKEv2 and Cluster re-export this module.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Octets that can lend a contiguous read-only view of themselves.
///
/// Lets the crypto API take public bytes (`[UInt8]`, `ArraySlice<UInt8>`) and secret bytes
/// (`SecretBytes`) alike, without copying secrets into ordinary arrays.
public protocol ContiguousOctets {
    /// Calls `body` with a read-only view of the octets; the pointer is valid only inside `body`.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousOctets where Element == UInt8 {}
extension ArraySlice: ContiguousOctets where Element == UInt8 {}
extension UnsafeRawBufferPointer: ContiguousOctets {
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}

/// Secret key material.
///
/// - The storage is zeroed (with `explicit_bzero`, which the optimiser may not remove)
///   when the last copy goes away, and lies in pages core dumps leave out (SecretArena).
/// - `description` and `debugDescription` are `<redacted N bytes>`: only the length, never
///   the contents, so a secret that lands in a log line or an error leaks nothing.
/// - `==` compares in constant time (the lengths are not secret).
/// - It is a value: copies share one immutable buffer.
public struct SecretBytes: ContiguousOctets, Equatable, Sendable,
    CustomStringConvertible, CustomDebugStringConvertible
{
    private let storage: Storage

    /// Copies `bytes` into wiped-on-release storage. The source is not wiped.
    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        storage = Storage(count: bytes.count)
        _ = UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: UInt8.self),
                                       count: storage.count).initialize(from: bytes)
    }

    /// Copies the octets of any contiguous source (e.g. slices of another secret).
    public init(copying source: some ContiguousOctets) {
        let count = source.withUnsafeBytes { $0.count }
        storage = Storage(count: count)
        source.withUnsafeBytes { raw in
            if let base = raw.baseAddress, count > 0 { storage.pointer.copyMemory(from: base, byteCount: count) }
        }
    }

    /// Allocates `count` zeroed octets and lets `initializer` fill them (e.g. an OpenSSL
    /// derive call or a parser writing straight into the secret storage). If it throws, the
    /// storage is wiped.
    public init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let storage = Storage(count: count)
        try initializer(UnsafeMutableRawBufferPointer(start: storage.pointer, count: storage.count))
        self.storage = storage
    }

    /// `count` zero octets.
    public init(zeroes count: Int) {
        storage = Storage(count: count)
    }

    /// The number of octets.
    public var count: Int { storage.count }

    /// Whether the secret holds no octets.
    public var isEmpty: Bool { storage.count == 0 }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// A new secret holding `count` octets starting at `offset`.
    /// - Precondition: the range lies inside the secret (a programming error otherwise,
    ///   never input-driven: key lengths come from the negotiated transforms).
    public func subrange(offset: Int, count: Int) -> SecretBytes {
        precondition(offset >= 0 && count >= 0 && offset + count <= self.count, "SecretBytes.subrange out of bounds")
        return withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
    }

    /// The concatenation of secret and public parts, kept secret.
    public static func concatenating(_ parts: [any ContiguousOctets]) -> SecretBytes {
        let total = parts.reduce(0) { sum, part in sum + part.withUnsafeBytes { $0.count } }
        return SecretBytes(count: total) { out in
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { raw in
                    if let base = raw.baseAddress, raw.count > 0 {
                        (out.baseAddress! + offset).copyMemory(from: base, byteCount: raw.count)
                    }
                    offset += raw.count
                }
            }
        }
    }

    /// Copies the secret into an ordinary array, which is NOT wiped. Only for values that
    /// stop being secret (AUTH data, a MACed ID) or that leave the process on purpose
    /// (CHILD_SA keys handed to the kernel, known-answer tests).
    public func unprotectedCopy() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Constant-time comparison: the time depends only on the lengths.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in constantTimeEquals(a, b) } }
    }

    public var description: String { "<redacted \(count) bytes>" }
    public var debugDescription: String { description }

    /// Storage in the secret arena (left out of core dumps: SecretArena.swift), zeroed on
    /// deinit; immutable after initialisation, hence Sendable.
    private final class Storage: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        let count: Int
        private let origin: SecretArena.Origin

        init(count: Int) {
            self.count = count
            (pointer, origin) = SecretArena.allocate(count)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        }

        deinit {
            secureZero(pointer, count)
            SecretArena.deallocate(pointer, origin)
        }
    }
}

/// Compares two octet strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Compares two octet sources (e.g. a received ICV or AUTH value with the computed one) in
/// time that depends only on their lengths.
public func constantTimeEquals(_ a: some ContiguousOctets, _ b: some ContiguousOctets) -> Bool {
    a.withUnsafeBytes { x in b.withUnsafeBytes { y in constantTimeEquals(x, y) } }
}

/// Zeroes memory in a way the optimiser may not drop.
func secureZero(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
    guard count > 0 else { return }
    #if canImport(Darwin)
    _ = memset_s(pointer, count, 0, count)
    #else
    explicit_bzero(pointer, count)
    #endif
}

/// Zeroes a mutable array in place (for short-lived public-API buffers that held secrets).
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { secureZero(base, raw.count) }
    }
}
