// A CHILD_SA's reqid: the kernel's link between its SAs and its policies (a policy's
// template names the reqid of the SAs it uses; `ip xfrm state` / `ip xfrm policy` show it).
//
// As strongSwan's kernel interface does, one reqid per pair of traffic-selector lists:
// every CHILD_SA negotiated for the same selectors shares it (a rekey's successor, the
// cluster's per-target CHILD_SAs of one line, a peer's duplicate), CHILD_SAs for other
// selectors never do. So
// - the kernel's outbound lookup (policy → template reqid → state with that reqid between
//   the two addresses) cannot pick another CHILD_SA's SA when one peer narrowed one child
//   to two CHILD_SAs with different selectors, and
// - the kernel's state hash by (destination, source, reqid) keeps one chain per CHILD_SA:
//   with one reqid per configured child, a responder for `remote_addrs = %any` put every
//   peer behind one address (a NAT, the load generator) in one chain, and each add walked
//   it (the stalled 10,000-IKE_SA run of `scripts/bench ike --hold`).
//
// A reqid lives while a CHILD_SA uses it (each user is the CHILD_SA's own inbound SPI, so a
// second release is harmless) and is never handed out again in this process: a freed
// number cannot meet a stale kernel object. Shared by every IKE worker of a daemon; the lock
// is taken once per CHILD_SA made or deleted.
import Synchronization

public final class ReqidAllocator: Sendable {
    private struct Selectors: Hashable {
        var local: [TrafficSelector]
        var remote: [TrafficSelector]
    }

    private struct Entry {
        var reqid: UInt32
        var users: Set<UInt32>
    }

    private struct State {
        var bySelectors: [Selectors: Entry] = [:]
        var selectorsOf: [UInt32: Selectors] = [:]
        var last: UInt32 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The reqid for a CHILD_SA with these selectors (ours, the peer's), used by the CHILD_SA
    /// whose inbound SPI is `user` until `release(_:user:)`. A rekey's successor passes its
    /// predecessor's reqid as `sharing` and gets it whatever it narrowed to (as strongSwan's
    /// child_rekey does): the policies it inherits name that reqid.
    public func acquire(local: [TrafficSelector], remote: [TrafficSelector], user: UInt32, sharing: UInt32? = nil) -> UInt32 {
        state.withLock { state in
            var selectors = Selectors(local: local, remote: remote)
            if let sharing, let shared = state.selectorsOf[sharing] { selectors = shared }
            if var entry = state.bySelectors[selectors] {
                entry.users.insert(user)
                state.bySelectors[selectors] = entry
                return entry.reqid
            }
            // 0 means "any" to the kernel: after 2^32 - 1 reqids (never, in practice) wrap to 1.
            repeat { state.last = state.last == UInt32.max ? 1 : state.last + 1 } while state.selectorsOf[state.last] != nil
            state.bySelectors[selectors] = Entry(reqid: state.last, users: [user])
            state.selectorsOf[state.last] = selectors
            return state.last
        }
    }

    /// The CHILD_SA with inbound SPI `user` no longer uses `reqid` (it left the kernel). The
    /// last user's release frees the reqid; unknown pairs are ignored.
    public func release(_ reqid: UInt32, user: UInt32) {
        state.withLock { state in
            guard let selectors = state.selectorsOf[reqid], var entry = state.bySelectors[selectors] else { return }
            entry.users.remove(user)
            if entry.users.isEmpty {
                state.bySelectors[selectors] = nil
                state.selectorsOf[reqid] = nil
            } else {
                state.bySelectors[selectors] = entry
            }
        }
    }

    /// The reqids in use (status and tests).
    public var count: Int { state.withLock { $0.selectorsOf.count } }
}
