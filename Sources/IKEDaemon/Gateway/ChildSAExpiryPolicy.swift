// What the standalone gateway does with the kernel's XFRM_MSG_EXPIRE events (pure: no I/O).
//
//   soft expire (rekey_bytes / rekey_packets / rekey_time reached) -> CREATE_CHILD_SA rekey
//   hard expire (life_*: the kernel has removed that SA)            -> INFORMATIONAL Delete
//
// Each CHILD_SA has two SAs, and each direction expires on its own count, so the second
// expire of a CHILD_SA whose rekey or delete is already under way is a duplicate. Events
// for SPIs we do not own (strongSwan's, the cluster's, a CHILD_SA already gone) are counted
// and ignored.
import IKEv2

/// An XFRM_MSG_EXPIRE, reduced to what the decision needs.
struct ChildSAExpireEvent: Sendable, Equatable {
    /// The SA's destination address (4 or 16 bytes) and SPI: its kernel identity.
    var destination: [UInt8]
    var spi: UInt32
    /// True: the kernel deleted the SA (hard limit). False: soft limit, rekey.
    var hard: Bool
    /// The SA's counters when it expired.
    var bytes: UInt64
    var packets: UInt64
}

/// Which limit a soft expire reached.
enum ChildSAExpireCause: String, Sendable, Equatable {
    case bytes
    case packets
    case time
}

/// The gateway's answer to one expire event.
enum ChildSAExpireDecision: Sendable, Equatable {
    /// Rekey the CHILD_SA with this inbound SPI of IKE_SA `ikeSA` (local SPI).
    case rekey(ikeSA: UInt64, inboundSPI: UInt32, cause: ChildSAExpireCause)
    /// Delete it with the peer.
    case delete(ikeSA: UInt64, inboundSPI: UInt32)
    /// No CHILD_SA of ours has this SA.
    case notOurs
    /// The other SA of the same CHILD_SA expired first; its rekey/delete is under way.
    case duplicate
}

/// Counters of expire events (status line and tests).
struct ChildSAExpiryCounters: Sendable, Equatable {
    var softExpires = 0
    var hardExpires = 0
    var rekeysByBytes = 0
    var rekeysByPackets = 0
    var rekeysByTime = 0
    var deletions = 0
    var notOurs = 0
    var duplicates = 0
}

/// Decides, event by event, and remembers which CHILD_SAs it already acted on.
struct ChildSAExpiryPolicy {
    private(set) var counters = ChildSAExpiryCounters()
    /// Inbound SPIs of CHILD_SAs whose rekey / delete we started. A CHILD_SA leaves them
    /// when its inbound SA is deleted (`forget`), and any left over (a CHILD_SA that went
    /// another way) when the sets have doubled since the last sweep: O(1) per event, amortized.
    private var rekeying: Set<UInt32> = []
    private var deleting: Set<UInt32> = []
    private var sweepAbove = 64

    /// CHILD_SAs remembered as being rekeyed or deleted.
    var tracked: Int { rekeying.count + deleting.count }

    /// The decision for `event` given the CHILD_SA it names (`owner`: its IKE_SA's local SPI
    /// and the CHILD_SA; nil = none of ours; IKEGateway.childSA(namedBy:) finds it in O(1)),
    /// and `present`, which tells whether a CHILD_SA (inbound SPI) is still there.
    mutating func decide(_ event: ChildSAExpireEvent, owner: (ikeSA: UInt64, child: ChildSAInstallation)?,
                         present: (UInt32) -> Bool) -> ChildSAExpireDecision {
        if event.hard { counters.hardExpires += 1 } else { counters.softExpires += 1 }
        sweep(present)
        guard let (ikeSA, child) = owner else {
            counters.notOurs += 1
            return .notOurs
        }
        let spi = child.inbound.spi
        if event.hard {
            guard deleting.insert(spi).inserted else { counters.duplicates += 1; return .duplicate }
            counters.deletions += 1
            return .delete(ikeSA: ikeSA, inboundSPI: spi)
        }
        guard !deleting.contains(spi), rekeying.insert(spi).inserted else { counters.duplicates += 1; return .duplicate }
        let cause = Self.cause(of: event, lifetime: child.lifetime)
        switch cause {
        case .bytes: counters.rekeysByBytes += 1
        case .packets: counters.rekeysByPackets += 1
        case .time: counters.rekeysByTime += 1
        }
        return .rekey(ikeSA: ikeSA, inboundSPI: spi, cause: cause)
    }

    /// The same, given every installed CHILD_SA (with their IKE_SA's local SPI): a scan, for
    /// tests and small tables.
    mutating func decide(_ event: ChildSAExpireEvent,
                         children: [(ikeSA: UInt64, child: ChildSAInstallation)]) -> ChildSAExpireDecision {
        let present = Set(children.map(\.child.inbound.spi))
        return decide(event, owner: children.first { Self.owns($0.child, event) }, present: present.contains)
    }

    /// The CHILD_SA with this inbound SPI is gone (its inbound SA was deleted).
    mutating func forget(inboundSPI: UInt32) {
        rekeying.remove(inboundSPI)
        deleting.remove(inboundSPI)
    }

    /// Drops the CHILD_SAs no longer `present`, once the sets have doubled since the last time.
    private mutating func sweep(_ present: (UInt32) -> Bool) {
        guard tracked > sweepAbove else { return }
        rekeying = rekeying.filter(present)
        deleting = deleting.filter(present)
        sweepAbove = max(64, 2 * tracked)
    }

    /// Whether `event` names one of `child`'s two SAs.
    static func owns(_ child: ChildSAInstallation, _ event: ChildSAExpireEvent) -> Bool {
        (child.inbound.spi == event.spi && child.inbound.destination == event.destination)
            || (child.outbound.spi == event.spi && child.outbound.destination == event.destination)
    }

    /// The soft limit the counters reached (the jitter may have lowered it by up to rand_*).
    static func cause(of event: ChildSAExpireEvent, lifetime: ChildSALifetime) -> ChildSAExpireCause {
        func reached(_ count: UInt64, _ limit: UInt64, _ jitter: UInt64) -> Bool {
            limit > 0 && count >= limit - min(jitter, limit)
        }
        if reached(event.bytes, lifetime.softBytes, lifetime.softBytesJitter) { return .bytes }
        if reached(event.packets, lifetime.softPackets, lifetime.softPacketsJitter) { return .packets }
        return .time
    }

    /// One line for the log.
    var statusLine: String {
        "expire events: \(counters.softExpires) soft, \(counters.hardExpires) hard; rekeys by bytes \(counters.rekeysByBytes),"
            + " by packets \(counters.rekeysByPackets), by time \(counters.rekeysByTime); deletes \(counters.deletions);"
            + " not ours \(counters.notOurs); duplicates \(counters.duplicates)"
    }
}
