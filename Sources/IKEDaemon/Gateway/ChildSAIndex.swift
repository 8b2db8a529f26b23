// Which IKE_SA holds each CHILD_SA, so that a CHILD_SA timer, an operator command or a
// kernel expire event finds it in O(1) instead of scanning every IKE_SA (after N IKE_SA
// rekeys, N CHILD_SA rekey timers each scanned N IKE_SAs):
//
//   inbound SPI -> IKE_SA             CHILD_SAs in an IKE_SA's `childSAs`
//   inbound SPI -> IKE_SA             rekeyed CHILD_SAs whose inbound SA is kept (`rekeyedChildSAs`)
//   (destination, SPI) -> CHILD_SA    either SA of a CHILD_SA in `childSAs`: the kernel's name
//                                     for it in XFRM_MSG_EXPIRE
//
// `IKEGateway.store` keeps it right: each time one IKE_SA is stored, the CHILD_SAs it had
// and has are compared (O(its own CHILD_SAs)); an IKE_SA rekey moves them from the old SA
// (stored first, now without them) to the new one. Pure: no I/O. `probes` counts the
// entries each operation looks at (for the scale tests).
import IKEv2

struct ChildSAIndex {
    /// An SA as the kernel names it (XFRM's id: destination and SPI; ESP only here).
    struct KernelSA: Hashable {
        var destination: [UInt8]
        var spi: UInt32
    }

    private var holders: [UInt32: UInt64] = [:]
    private var keepers: [UInt32: UInt64] = [:]
    private var kernel: [KernelSA: (ikeSA: UInt64, inboundSPI: UInt32)] = [:]
    /// Table entries looked at so far (hash probes, and each CHILD_SA compared when an
    /// IKE_SA is stored; a scan of the table would add one per IKE_SA).
    private(set) var probes = 0

    /// CHILD_SAs indexed (those in `childSAs`; not the kept inbound SAs of rekeyed ones).
    var count: Int { holders.count }

    /// The IKE_SA (local SPI) whose `childSAs` has the CHILD_SA with this inbound SPI.
    mutating func holder(ofChild inboundSPI: UInt32) -> UInt64? {
        probes += 1
        return holders[inboundSPI]
    }

    /// Whether a CHILD_SA with this inbound SPI is in some IKE_SA's `childSAs` (not counted).
    func contains(inboundSPI: UInt32) -> Bool { holders[inboundSPI] != nil }

    /// The IKE_SA keeping the inbound SA of the rekeyed CHILD_SA with this inbound SPI.
    mutating func keeper(ofRekeyed inboundSPI: UInt32) -> UInt64? {
        probes += 1
        return keepers[inboundSPI]
    }

    /// The CHILD_SA (its IKE_SA and inbound SPI) one of whose two SAs the kernel names so.
    mutating func owner(of sa: KernelSA) -> (ikeSA: UInt64, inboundSPI: UInt32)? {
        probes += 1
        return kernel[sa]
    }

    /// The IKE_SA `ikeSA` went from `old` to `new` (nil: not in the table).
    mutating func update(ikeSA: UInt64, from old: IKESA?, to new: IKESA?) {
        let before = old?.childSAs ?? [], after = new?.childSAs ?? []
        let keptBefore = old?.rekeyedChildSAs ?? [], keptAfter = new?.rekeyedChildSAs ?? []
        // Most messages change no CHILD_SA: compare in place, without building anything.
        if before.count == after.count, keptBefore.count == keptAfter.count,
           zip(before, after).allSatisfy({ Self.sameSAs($0, $1) }),
           zip(keptBefore, keptAfter).allSatisfy({ $0.child.inbound.spi == $1.child.inbound.spi }) {
            probes += before.count + after.count + keptBefore.count + keptAfter.count
            return
        }
        update(ikeSA: ikeSA, children: (before, after),
               kept: (keptBefore.map(\.child.inbound.spi), keptAfter.map(\.child.inbound.spi)))
    }

    private static func sameSAs(_ a: ChildSAInstallation, _ b: ChildSAInstallation) -> Bool {
        a.inbound.spi == b.inbound.spi && a.outbound.spi == b.outbound.spi
            && a.inbound.destination == b.inbound.destination && a.outbound.destination == b.outbound.destination
    }

    /// The IKE_SA `ikeSA`'s CHILD_SAs went from `children.old` to `children.new`, and the
    /// inbound SPIs of its rekeyed CHILD_SAs' kept inbound SAs from `kept.old` to `kept.new`.
    mutating func update(ikeSA: UInt64, children: (old: [ChildSAInstallation], new: [ChildSAInstallation]),
                         kept: (old: [UInt32], new: [UInt32])) {
        probes += children.old.count + children.new.count + kept.old.count + kept.new.count
        let before = children.old.map(Self.kernelSAs), after = children.new.map(Self.kernelSAs)
        if before != after {
            for (child, names) in zip(children.old, before) where !after.contains(names) { remove(child, of: ikeSA) }
            for (child, names) in zip(children.new, after) where !before.contains(names) {
                holders[child.inbound.spi] = ikeSA
                for sa in names { kernel[sa] = (ikeSA, child.inbound.spi) }
            }
        }
        if kept.old != kept.new {
            for spi in kept.old where !kept.new.contains(spi) && keepers[spi] == ikeSA { keepers[spi] = nil }
            for spi in kept.new { keepers[spi] = ikeSA }
        }
    }

    private mutating func remove(_ child: ChildSAInstallation, of ikeSA: UInt64) {
        // Only when still ours: the same CHILD_SA may be in another IKE_SA already.
        if holders[child.inbound.spi] == ikeSA { holders[child.inbound.spi] = nil }
        for sa in Self.kernelSAs(child) where kernel[sa]?.ikeSA == ikeSA { kernel[sa] = nil }
    }

    /// Its two SAs as the kernel names them.
    static func kernelSAs(_ child: ChildSAInstallation) -> [KernelSA] {
        [KernelSA(destination: child.inbound.destination, spi: child.inbound.spi),
         KernelSA(destination: child.outbound.destination, spi: child.outbound.spi)]
    }
}
