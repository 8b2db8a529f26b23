import Foundation
import IKECrypto
import IKEv2
import Logging
import NIOCore
import NIOPosix
import VipsecTestSupport
import XCTest
@testable import IKEDaemon

/// A peer's certificate AUTH is verified off the worker's event loop (`GatewayAction.verifyPeer`,
/// DaemonCore+Actions.swift; IKESA+PeerVerification.swift): while one verification never
/// completes, the same worker keeps serving an IKE_SA it holds already and sets up a new one;
/// once the verification completes, the waiting IKE_SA is answered and established. A real
/// daemon shell (one worker, datagrams in through its dispatch, out through `transmit`) with
/// our own IKESAs as peers; the gateway's authenticator is one whose verification the test
/// holds (no certificate files: what is under test is the shell, not the chain validation).
final class PeerVerificationShellTests: XCTestCase {
    static let gateway = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let peerEndpoint = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
    /// The AUTH data of the peer whose verification is held.
    static let held: [UInt8] = [0xDE, 0xAD]
    let provider = OpenSSLCryptoProvider()

    struct Refused: Error {}

    /// The gateway's verifier: AUTH data `held` waits until `release()`; anything else is
    /// verified at once.
    final class HeldAuthenticator: PublicKeyAuthenticator, @unchecked Sendable {
        private let lock = NSLock()
        private var waiting: [CheckedContinuation<PeerAuthenticationFailure?, Never>] = []
        private var verified = 0
        let certificatePayloads: [CertificatePayload] = []
        let certificateRequest: CertificatePayload? = nil
        let canSign = false

        func sign(_ signedOctets: [UInt8], peerHashAlgorithms: [SignatureHashAlgorithm]?) throws -> AuthenticationPayload {
            throw Refused()
        }

        func verify(_ authentication: AuthenticationPayload, signedOctets: [UInt8], identity: IdentificationPayload,
                    expectedIdentity: IdentificationPayload?, certificates: [CertificatePayload]) async -> PeerAuthenticationFailure? {
            guard authentication.authenticationData == PeerVerificationShellTests.held else {
                lock.withLock { verified += 1 }
                return nil
            }
            return await withCheckedContinuation { continuation in lock.withLock { waiting.append(continuation) } }
        }

        var waitingCount: Int { lock.withLock { waiting.count } }
        var verifiedCount: Int { lock.withLock { verified } }

        func release() {
            let all = lock.withLock { () -> [CheckedContinuation<PeerAuthenticationFailure?, Never>] in
                defer { waiting = [] }
                return waiting
            }
            for continuation in all { continuation.resume(returning: nil) }
        }
    }

    /// The peers' signer: a signature AUTH with fixed data (the gateway's verifier decides).
    struct FixedSigner: PublicKeyAuthenticator {
        let data: [UInt8]
        var certificatePayloads: [CertificatePayload] { [] }
        var certificateRequest: CertificatePayload? { nil }
        var canSign: Bool { true }
        func sign(_ signedOctets: [UInt8], peerHashAlgorithms: [SignatureHashAlgorithm]?) throws -> AuthenticationPayload {
            AuthenticationPayload(method: .digitalSignature, authenticationData: data)
        }
        func verify(_ authentication: AuthenticationPayload, signedOctets: [UInt8], identity: IdentificationPayload,
                    expectedIdentity: IdentificationPayload?, certificates: [CertificatePayload]) async -> PeerAuthenticationFailure? {
            .untrusted
        }
    }

    /// Datagrams from the daemon, taken by the peer they are for (initiator SPI).
    final class Wire: @unchecked Sendable {
        private let lock = NSLock()
        private var inbox: [[UInt8]] = []
        func deliver(_ bytes: [UInt8]) { lock.withLock { inbox.append(bytes) } }
        func take(for spi: UInt64) -> [UInt8]? {
            lock.withLock {
                guard let index = inbox.firstIndex(where: { Self.initiatorSPI($0) == spi }) else { return nil }
                return inbox.remove(at: index)
            }
        }
        static func initiatorSPI(_ bytes: [UInt8]) -> UInt64 { bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    }

    var group: MultiThreadedEventLoopGroup?
    let wire = Wire()
    let authenticator = HeldAuthenticator()
    var workers: IKEWorkerSet!

    override func setUpWithError() throws {
        var config = try DaemonConfig(parsing: LabGatewayConfig.text(connection: ["dpd_delay = 0"]), file: "t.conf")
        config.connections[0].remote.method = .pubkey
        config.connections[0].credentials = ConnectionCredentials(authenticator: authenticator, subjectDER: nil)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let core = try DaemonCore(config: config, installer: ConfinedChildSAInstaller(NullChildSAInstaller()),
                                  logger: Logger(label: "test"), loop: group.next())
        let wire = self.wire
        core.transmit = { bytes, _, _ in wire.deliver(bytes) }
        workers = IKEWorkerSet(cores: [core])
    }

    override func tearDownWithError() throws {
        authenticator.release()
        try group?.syncShutdownGracefully()
    }

    func makePeer(signing data: [UInt8]) throws -> IKESA {
        var configuration = try LabPeerConfiguration.make()
        configuration.localAuthentication = .publicKey
        configuration.publicKeyAuthenticator = FixedSigner(data: data)
        return try IKESA.initiator(configuration: configuration, provider: provider, local: Self.peerEndpoint, remote: Self.gateway)
    }

    func send(_ actions: [IKEAction]) throws {
        for case .send(let bytes) in actions {
            workers.dispatch(ByteBuffer(bytes: bytes), localAddress: "192.0.2.100", localPort: 500,
                             remote: try SocketAddress(ipAddress: "192.0.2.1", port: 500))
        }
    }

    func eventually(_ seconds: Double = 20, _ condition: () -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return condition()
    }

    /// Sends the peer's request and returns what the peer did with the daemon's answer.
    func exchange(_ peer: inout IKESA, _ actions: [IKEAction]) async throws -> [IKEAction] {
        try send(actions)
        var answer: [UInt8]?
        let spi = peer.initiatorSPI
        _ = await eventually { answer = wire.take(for: spi); return answer != nil }
        return peer.receiveInstalling(try XCTUnwrap(answer, "no answer from the daemon"), now: 0)
    }

    func establish(_ peer: inout IKESA) async throws {
        let auth = try await exchange(&peer, peer.start(now: 0))
        _ = try await exchange(&peer, auth)
        XCTAssertEqual(peer.phase, .established)
    }

    func gatewaySA(_ spi: UInt64) async throws -> (phase: IKESA.Phase?, absorbed: Int) {
        let found = try await workers.collect { core in
            core.gateway.sas.values.first { $0.initiatorSPI == spi }.map { ($0.phase, $0.counters.retransmitsAbsorbedWhileVerifying) }
        }.get()
        let sa = found.compactMap { $0 }.first
        return (sa?.0, sa?.1 ?? 0)
    }

    func testAVerificationThatNeverCompletesDoesNotStopTheWorkerServingOtherIKESAs() async throws {
        // An IKE_SA the worker holds already.
        var existing = try makePeer(signing: [1])
        try await establish(&existing)
        // A peer whose verification does not complete: its IKE_AUTH waits, unanswered.
        var stuck = try makePeer(signing: Self.held)
        let authRequest = try await exchange(&stuck, stuck.start(now: 0))
        try send(authRequest)
        let waiting = await eventually { authenticator.waitingCount == 1 }
        XCTAssertTrue(waiting, "the verification was started")
        let pending = try await gatewaySA(stuck.initiatorSPI)
        XCTAssertEqual(pending.phase, .authenticating)
        // Its retransmission is absorbed, not verified a second time (the worker handles
        // datagrams in order: once the fresh peer below is served, so was this).
        try send(authRequest)
        // Meanwhile the same worker sets up a new IKE_SA ...
        var fresh = try makePeer(signing: [2])
        try await establish(&fresh)
        // ... and answers the existing one's liveness check.
        let answered = try await exchange(&existing, existing.checkLiveness(now: 1))
        XCTAssertEqual(existing.phase, .established, "\(answered)")
        XCTAssertFalse(existing.holdsResponse)
        XCTAssertEqual(authenticator.verifiedCount, 2, "the other two peers were verified")
        XCTAssertNil(wire.take(for: stuck.initiatorSPI), "the held IKE_SA got no answer yet")
        XCTAssertEqual(authenticator.waitingCount, 1, "still one verification, not two")
        let stillPending = try await gatewaySA(stuck.initiatorSPI)
        XCTAssertEqual(stillPending.phase, .authenticating)
        XCTAssertEqual(stillPending.absorbed, 1, "the retransmitted IKE_AUTH was absorbed")
        // The verification completes: the waiting IKE_SA is answered and established.
        authenticator.release()
        var answer: [UInt8]?
        let spi = stuck.initiatorSPI
        _ = await eventually { answer = wire.take(for: spi); return answer != nil }
        _ = stuck.receiveInstalling(try XCTUnwrap(answer, "answered once verified"), now: 2)
        XCTAssertEqual(stuck.phase, .established)
        let done = try await gatewaySA(stuck.initiatorSPI)
        XCTAssertEqual(done.phase, .established)
    }
}
