// HA (issue 19, docs/takeover.md section 2, "written before relied on"): the active routing
// node records each established IKE_SA in the coupling facility (etcd) and sends nothing
// that the peer could act on before the record that matches it is durable.
//
// The rule, as built (DaemonCore.performPersisting):
// - After every step of a worker (a datagram, a timer, an install outcome), each IKE_SA the
//   step touched that is established and quiet (IKESA.snapshot) is recorded again if its
//   record changed; one that closed (or was replaced by a rekey) has its record deleted.
// - Every datagram of that step for that IKE_SA waits until the commit is done: a response
//   (the peer's expected message ID moved: its next request must find the new active
//   expecting the next ID) and a request of ours alike (DPD included: the record holds the
//   request's datagrams, so a new active resends that very request and never skips or
//   reuses a message ID). A commit that fails (etcd unreachable, this node deposed) drops
//   the datagrams: the peer retransmits, and the next step tries the commit again.
// - Per IKE_SA, commits and the sends behind them keep their order.
// - Not covered: an IKE_SA that is not quiet (a CHILD_SA or IKE_SA rekey or a Delete of
//   ours in flight, a response held for an install) is not recorded and its datagrams go
//   out at once; a takeover in that window continues from the previous record (the peer
//   may then hold a CHILD_SA the new active does not know).
import IKEv2
import NIOCore

/// Where a worker records its IKE_SAs (HA). All calls come from the worker's own loop.
public protocol IKESAPersistence: AnyObject, Sendable {
    /// Makes `record` the durable state of the IKE_SA with our SPI `localSPI`; nil deletes it.
    /// Succeeds once durable; fails when it could not be recorded.
    func commit(localSPI: UInt64, record: IKESARecord?, on loop: EventLoop) -> EventLoopFuture<Void>
}
