@testable import IKEDaemon
import IKEv2

// The part of the shell the in-memory conversations need: every install an input started
// is reported done at once (a kernel that never fails), so the held response goes out.
// The tests of the pending install itself (PendingInstallTests) call `receive` and
// `installCompleted` by hand.

extension IKESA {
    mutating func receiveInstalling(_ datagram: [UInt8], now: Double) -> [IKEAction] {
        completingInstalls(receive(datagram, now: now), now: now)
    }

    mutating func receiveInstalling(_ datagram: [UInt8], local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [IKEAction] {
        completingInstalls(receive(datagram, local: local, remote: remote, now: now), now: now)
    }

    mutating func completingInstalls(_ actions: [IKEAction], now: Double) -> [IKEAction] {
        var all = actions
        for case .install(let child) in actions { all += installCompleted(child.reference, succeeded: true, now: now) }
        return all
    }
}

extension IKEGateway {
    mutating func receiveInstalling(_ datagram: [UInt8], local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [GatewayAction] {
        completingInstalls(receive(datagram, local: local, remote: remote, now: now), now: now)
    }

    mutating func completingInstalls(_ actions: [GatewayAction], now: Double) -> [GatewayAction] {
        var all = actions
        for case .install(_, let token) in actions { all += completingInstalls(installCompleted(token, succeeded: true, now: now), now: now) }
        return all
    }
}
