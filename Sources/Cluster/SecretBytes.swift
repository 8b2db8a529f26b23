#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Key material: bytes that never show in descriptions and are wiped when the last reference
/// goes away.
///
/// The bytes live in one heap allocation owned by this object (never in a `[UInt8]` that
/// copy-on-write could duplicate behind our back). Read them with `withUnsafeBytes`.
public final class SecretBytes: Equatable, CustomStringConvertible, CustomDebugStringConvertible, @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into a fresh allocation. The caller should wipe its own copy.
    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        storage = .allocate(byteCount: bytes.count, alignment: 1)
        storage.copyBytes(from: bytes)
    }

    /// Creates `count` bytes filled by `body` (so key bytes can go straight from a parser).
    public init(count: Int, initializingWith body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        storage = .allocate(byteCount: count, alignment: 1)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try body(storage)
        } catch {
            SecretBytes.wipe(storage)
            storage.deallocate()
            throw error
        }
    }

    deinit {
        SecretBytes.wipe(storage)
        storage.deallocate()
    }

    /// The number of key bytes.
    public var count: Int { storage.count }

    /// Calls `body` with the key bytes; do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// Constant-time comparison (the time depends on the lengths only).
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<lhs.count {
            difference |= lhs.storage[index] ^ rhs.storage[index]
        }
        return difference == 0
    }

    /// Always `<redacted N bytes>`: key bytes never reach a log line.
    public var description: String { "<redacted \(count) bytes>" }
    public var debugDescription: String { description }

    private static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        #if canImport(Glibc) || canImport(Musl)
        explicit_bzero(base, buffer.count)
        #else
        memset_s(base, buffer.count, 0, buffer.count)
        #endif
    }
}
