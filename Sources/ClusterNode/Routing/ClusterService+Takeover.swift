// HA takeover (docs/takeover.md sections 2 and 4): what the active records about the SAs it
// distributed, and how a new active continues them in the same epoch.
import Cluster
import NIOCore

extension ClusterService {
    /// The SAs distributed now whose SPI is one of `spis`, exactly as sent to the targets
    /// (the takeover record of their IKE_SA carries them).
    public func descriptions(spis: Set<UInt32>) async -> [SADescription] {
        (try? await loop.submit { [self] in authority.currentSAs.filter { spis.contains($0.spi) } }.get()) ?? []
    }

    /// Takeover: this node continues the cluster's `epoch` with the SAs the previous active
    /// distributed (`SAAuthority(restoring:)`). Call before agents are admitted: each one
    /// that joins is welcomed into the same epoch and resynced with identical descriptions,
    /// so its kernel keeps every SA. Any state of this node's own (a standby has none) goes.
    public func adopt(epoch: ClusterEpoch, sas: [SADescription]) async throws {
        try await loop.submit { [self] in
            for (_, channel) in connections { channel.close(promise: nil) }
            for (_, waiter) in waiters { waiter.fail(ClusterInstallError.shutDown) }
            waiters = [:]
            authority = SAAuthority(restoring: epoch, sas: sas, configuration: configuration.authority)
            stateFeed.restart()   // a new authority: the distributor gets the whole state again
            note("takeover: continuing \(epoch) with \(authority.currentSAs.count) SAs of the previous active")
            execute([])
        }.get()
    }
}
