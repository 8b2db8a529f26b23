@testable import IKEDaemon
import IKEv2

// The gateway's part of the shell the in-memory conversations need: every install an input
// started is reported done at once (a kernel that never fails), so the held response goes
// out. The IKE_SA's part: VipsecTestSupport/IKEConversation.swift.
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
