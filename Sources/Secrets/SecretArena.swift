// Memory for secrets that core dumps leave out.
//
// Every `SecretBytes` lives here: in pages mapped for secrets alone and marked
// MADV_DONTDUMP, so neither the kernel's core dump of a crashing daemon nor gdb's `gcore`
// (which skips mappings whose /proc/PID/smaps VmFlags say `dd`) writes them. Root can
// still read a live daemon's memory with ptrace (as it can read the SAs' keys from the
// kernel with `ip xfrm state`); what this closes is keys at rest in dump files.
//
// Slots come in size classes (16 octets to 4 KiB, doubling), carved from 64 KiB chunks and
// reused through a free list per class; a larger secret gets pages of its own, unmapped when
// it goes. Chunks are never returned to the system: the arena keeps its high-water mark, as
// malloc's arenas do. Where mmap or madvise are refused the slot comes from the ordinary heap
// (the secret is still wiped on release; only its exclusion from dumps is lost), counted in
// `SecretArena.heapFallbacks`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

public enum SecretArena {
    /// The size classes, in octets.
    static let classes: [Int] = (4...12).map { 1 << $0 }
    /// Octets mapped at a time for one size class.
    static let chunkSize = 64 << 10

    private final class SizeClass: Sendable {
        struct State {
            /// Free slots, as addresses.
            var free: [UInt] = []
            /// The unused rest of the newest chunk.
            var next: UInt = 0
            var end: UInt = 0
        }

        let size: Int
        let state = Mutex(State())

        init(size: Int) { self.size = size }

        func allocate() -> UnsafeMutableRawPointer? {
            state.withLock { state in
                if let address = state.free.popLast() { return UnsafeMutableRawPointer(bitPattern: address) }
                if state.next + UInt(size) > state.end {
                    guard let chunk = SecretArena.mapExcludedFromDumps(SecretArena.chunkSize) else { return nil }
                    state.next = UInt(bitPattern: chunk)
                    state.end = state.next + UInt(SecretArena.chunkSize)
                }
                defer { state.next += UInt(size) }
                return UnsafeMutableRawPointer(bitPattern: state.next)
            }
        }

        func deallocate(_ pointer: UnsafeMutableRawPointer) {
            state.withLock { $0.free.append(UInt(bitPattern: pointer)) }
        }
    }

    private static let sizeClasses = classes.map(SizeClass.init)
    private static let fallbacks = Atomic<Int>(0)

    /// Secrets that had to live on the ordinary heap (mmap or madvise refused).
    public static var heapFallbacks: Int { fallbacks.load(ordering: .relaxed) }

    /// Where a secret of `count` octets goes: its size class, or nil for pages of its own.
    static func classIndex(_ count: Int) -> Int? {
        classes.firstIndex { count <= $0 }
    }

    /// Where a slot came from (`deallocate` gives it back there).
    enum Origin: Sendable {
        case sizeClass(Int)
        case ownPages(Int)
        case heap
    }

    /// `count` (at least 1) octets for a secret, not yet initialised; release with `deallocate`.
    static func allocate(_ count: Int) -> (UnsafeMutableRawPointer, Origin) {
        let count = max(count, 1)
        if let index = classIndex(count) {
            if let slot = sizeClasses[index].allocate() { return (slot, .sizeClass(index)) }
        } else if let pages = mapExcludedFromDumps(roundedToPages(count)) {
            return (pages, .ownPages(roundedToPages(count)))
        }
        fallbacks.add(1, ordering: .relaxed)
        return (UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16), .heap)
    }

    /// Gives back what `allocate` returned (the caller has wiped it).
    static func deallocate(_ pointer: UnsafeMutableRawPointer, _ origin: Origin) {
        switch origin {
        case .sizeClass(let index): sizeClasses[index].deallocate(pointer)
        case .ownPages(let length): munmap(pointer, length)
        case .heap: pointer.deallocate()
        }
    }

    // MARK: Pages

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func roundedToPages(_ count: Int) -> Int {
        (count + pageSize - 1) / pageSize * pageSize
    }

    /// Private anonymous pages marked MADV_DONTDUMP, or nil.
    static func mapExcludedFromDumps(_ length: Int) -> UnsafeMutableRawPointer? {
        guard let pages = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              pages != MAP_FAILED else { return nil }
        #if os(Linux)
        guard madvise(pages, length, MADV_DONTDUMP) == 0 else {
            munmap(pages, length)
            return nil
        }
        #endif
        return pages
    }
}
