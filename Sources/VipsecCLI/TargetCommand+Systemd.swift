// `vipsec target` under systemd (systemd/vipsec-target.service, Type=notify): READY=1 once
// the status socket is up and the routing node has welcomed this agent (the cluster
// channel is up), WATCHDOG=1 while the agent's event loop answers, STOPPING=1 at the stop.
import ClusterNode
import Foundation
import NIOCore
import Systemd

final class TargetNotifications: @unchecked Sendable {
    private let notifier = SystemdNotifier()
    /// Set on the agent's loop (the Welcome), read by the stop on the signal task.
    private let watchdog = LockedBox<SystemdWatchdog?>(nil)

    /// After `agent.start()`: READY=1 when the routing node's Welcome arrives.
    func started(_ agent: ClusterAgent) {
        agent.welcomed.whenSuccess { [self] in
            send("READY=1\nSTATUS=cluster channel up")
            watchdog.value = SystemdWatchdog(notifier, alive: {
                await agent.status().completes(within: .seconds(2))
            }, onError: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
        }
    }

    func stopping() {
        watchdog.value?.stop()
        send("STOPPING=1")
    }

    private func send(_ state: String) {
        do { try notifier.notify(state) } catch { FileHandle.standardError.write(Data("systemd: \(error)\n".utf8)) }
    }
}
