// The worker's side of IKESAPersistence (the rule is in IKESAPersistence.swift).
import Foundation
import IKEv2
import NIOCore

/// A worker's bookkeeping of what it recorded.
struct PersistenceState {
    /// The record last asked to be committed per IKE_SA (nil once a commit failed: ask again).
    var requested: [UInt64: IKESARecord] = [:]
    /// The last commit per IKE_SA; its sends follow it.
    var tail: [UInt64: EventLoopFuture<Void>] = [:]
    /// Commits that failed, and datagrams dropped because their commit failed.
    var commitFailures = 0
    var sendsDropped = 0
    /// IKE_SAs not recorded in a step because they were not quiet.
    var notQuiet = 0
}

extension DaemonCore {
    /// `perform` with persistence: everything but the sends at once, the sends of each IKE_SA
    /// after its record's commit.
    func performPersisting(_ actions: [GatewayAction], persistence: IKESAPersistence) {
        var sends: [UInt64: [(bytes: [UInt8], local: IKEEndpoint, remote: IKEEndpoint)]] = [:]
        var order: [UInt64] = []
        var others: [GatewayAction] = []
        var touched: Set<UInt64> = []
        var structural = false
        for action in actions {
            switch action {
            case .send(let bytes, let local, let remote):
                guard let spi = Self.senderLocalSPI(bytes) else { others.append(action); continue }
                if sends[spi] == nil { order.append(spi) }
                sends[spi, default: []].append((bytes, local, remote))
                touched.insert(spi)
            case .schedule(let spi, _):
                touched.insert(spi)
                others.append(action)
            case .install(_, let token):
                touched.insert(token.ikeSA)
                others.append(action)
            case .scheduleCommand(let timer, _):
                if let spi = timer.ikeSA { touched.insert(spi) }
                others.append(action)
            default:
                structural = true
                others.append(action)
            }
        }
        performNow(others)
        if structural {   // something may have closed or been replaced: forget its record
            touched.formUnion(persistenceState.requested.keys.filter { gateway.sas[$0]?.phase != .established })
        }
        for spi in touched { recordIfChanged(spi, persistence: persistence) }
        for spi in order {
            guard let datagrams = sends[spi] else { continue }
            guard let tail = persistenceState.tail[spi] else {
                for datagram in datagrams { send(datagram.bytes, local: datagram.local, remote: datagram.remote) }
                continue
            }
            tail.whenComplete { [self] result in
                switch result {
                case .success:
                    for datagram in datagrams { send(datagram.bytes, local: datagram.local, remote: datagram.remote) }
                case .failure:
                    persistenceState.sendsDropped += datagrams.count
                }
            }
        }
    }

    /// Commits the IKE_SA's record when it differs from the last one asked for.
    private func recordIfChanged(_ spi: UInt64, persistence: IKESAPersistence) {
        let record: IKESARecord?
        if let sa = gateway.sas[spi], sa.phase == .established {
            do {
                record = try sa.snapshot(times: gateway.recordTimes(spi, wallOffset: wallOffset))
            } catch {
                persistenceState.notQuiet += 1
                return
            }
        } else if sa(spi)?.phase == .negotiatingInit || sa(spi)?.phase == .authenticating {
            return   // half-open IKE_SAs are never recorded
        } else {
            record = nil
            guard persistenceState.requested[spi] != nil else { return }
        }
        if let record, persistenceState.requested[spi] == record { return }
        persistenceState.requested[spi] = record
        if record == nil { persistenceState.requested.removeValue(forKey: spi) }
        let previous = persistenceState.tail[spi] ?? loop.makeSucceededVoidFuture()
        let commit = previous.flatMapError { _ in self.loop.makeSucceededVoidFuture() }
            .flatMap { persistence.commit(localSPI: spi, record: record, on: self.loop) }
        persistenceState.tail[spi] = commit
        commit.whenComplete { [self] result in
            if case .failure(let error) = result {
                persistenceState.commitFailures += 1
                if persistenceState.requested[spi] == record { persistenceState.requested[spi] = nil }
                logger.warning("HA: recording IKE_SA \(hex16(spi)) failed: \(error); its datagrams are dropped until a record is durable")
            }
            if record == nil, let tail = persistenceState.tail[spi], tail === commit {
                persistenceState.tail[spi] = nil
            }
        }
    }

    private func sa(_ spi: UInt64) -> IKESA? { gateway.sas[spi] }

    /// Our SPI in a message we send: SPIi when we are the original initiator (I flag), else SPIr.
    static func senderLocalSPI(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count >= IKEHeader.length else { return nil }
        let start = bytes[19] & 0x08 != 0 ? 0 : 8
        let spi = bytes[start..<start + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return spi == 0 ? nil : spi
    }
}

extension GatewayTimer {
    /// The IKE_SA a gateway timer concerns.
    var ikeSA: UInt64? {
        switch self {
        case .rekeyChildSA(let sa, _), .liveness(let sa), .halfOpenTimeout(let sa), .createChildSA(let sa, _),
             .createConfiguredChildSA(let sa, _), .rekeyIKESA(let sa), .expireIKESA(let sa), .forgetRekeyedIKESA(let sa),
             .removeRekeyedChildSA(let sa, _):
            return sa
        }
    }
}
