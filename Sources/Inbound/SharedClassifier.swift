// One classifier for several NFQUEUE workers (`queue = A-B`). The nft rule spreads packets
// over the queues with `queue num A-B fanout`, which picks the queue by the CPU the packet is
// processed on (net/netfilter/nft_queue.c: `queuenum + cpu % queues_total`), not by a hash
// of the packet. So one SA's packets, and even one connection's, can arrive on two queues at
// once. Everything they touch is therefore shared, behind one lock:
// - the SA table and each SA's check-only replay window: packets only read the window;
//   only authenticated evidence (the targets' kernels, applied by the first worker) moves
//   it, so the order in which two queues check one SA's packets never matters, but a check
//   must never see a half-applied update;
// - the connection table: the first packet of a connection places it, whichever queue it
//   came on; every later packet, on any queue, finds that entry;
// - the counters.
// The lock is taken once per received batch (up to 64 packets), not per packet; the costly
// part of a queue's work, the receive and the verdict's sendmsg (in which the kernel
// forwards the packet), runs outside it, in parallel.
import Cluster
import Synchronization

public final class SharedClassifier: @unchecked Sendable {
    private let lock = Mutex(())
    /// Only touched inside `lock`.
    private var classifier: InboundClassifier

    public init(_ classifier: InboundClassifier) {
        self.classifier = classifier
    }

    /// Runs `body` with the classifier, no other worker inside at the same time.
    public func withLock<Result>(_ body: (inout InboundClassifier) throws -> Result) rethrows -> Result {
        try lock.withLock { _ -> Result in try body(&classifier) }
    }

    /// The decision for each packet of a batch, in order, under one lock.
    public func classify<Packets: Collection>(_ packets: Packets, now: ClusterInstant,
                                              payload: (Packets.Element) -> [UInt8]) -> [InboundDecision] {
        withLock { classifier in
            var decisions: [InboundDecision] = []
            decisions.reserveCapacity(packets.count)
            for packet in packets { decisions.append(classifier.classify(payload(packet), now: now)) }
            return decisions
        }
    }
}
