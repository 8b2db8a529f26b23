// swift-tools-version:6.0
// vipsec: one IPsec endpoint for a cluster of Linux hosts behind a distributed virtual IP.
//
// Layout (pure protocol logic apart from I/O):
//   CMNL, COpenSSL      system libraries (libmnl, libssl/libcrypto) found through pkg-config
//   Secrets             SecretBytes: key material that wipes itself (IKEv2 and Cluster re-export it)
//   Netlink             netlink sockets, message builder, attribute parser over libmnl
//   XFRM                the kernel boundary: SAs, policies, counters and events (uses Netlink)
//   KernelSA            one translation of a negotiated CHILD_SA into kernel SAs and policies,
//                       for the standalone gateway and the targets' agents alike
//   NetfilterQueue      NFQUEUE client (nfnetlink over libmnl): queued packets in, verdicts out
//   InboundRouting      inbound kernel set-up: nft interception, fwmark policy routing; a target's GRE and conntrack (ctnetlink ends)
//   IKEv2               pure IKEv2 (RFC 7296): wire codec, payloads, exchanges, SA state; no I/O
//   IKECrypto           IKEv2's crypto protocols implemented with OpenSSL
//   IKECertificates     certificate authentication: RFC 7427 signatures (OpenSSL), X.509 chains (swift-certificates)
//   IKEFuzzSupport      the fuzz harness (Fuzz/, corpus replay tests); not linked into `vipsec`
//   IKEDaemon           the NIO shell around IKEv2: UDP 500/4500, timers, kernel installer
//   Cluster             pure cluster logic: SA authority, sequence blocks, lifesize, membership, wire
//   ClusterNode         the NIO/TLS shells: routing node service and target agent
//   Inbound             pure inbound distributor: ESP parsing, replay window, Maglev, connection table
//   InboundCrypto       the inbound peek decryption (and a reference ESP sealer) with OpenSSL
//   InboundNode         the routing node's distributor: NFQUEUE worker, classifier feed, forwarding set-up
//   Systemd             sd_notify (READY, STOPPING, WATCHDOG) over $NOTIFY_SOCKET, no libsystemd;
//                       Hardening: no core dumps (PR_SET_DUMPABLE 0), CAP_NET_ADMIN alone in every
//                       thread and an optional user/group once bound (CHardening)
//   HAElection          pure HA election and fencing (issue 19): lease, campaign, serving deadline; no I/O
//   HACoordination      the etcd v3 client (JSON gateway over async-http-client, mutual TLS) and the
//                       HA controller's etcd side
//   OperatorMetrics     the routing node's and the agent's Prometheus endpoints (swift-metrics, swift-prometheus, NIOHTTP1)
//   UnixStream          the client end of a unix stream socket (status, control sockets)
//   VipsecCLI           the `vipsec` command (swift-argument-parser)
import PackageDescription

let package = Package(
    name: "vipsec",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vipsec", targets: ["VipsecCLI"]),
        .executable(name: "vipsec-xfrm-lab", targets: ["XFRMLabTool"]),
        .executable(name: "vipsec-cluster-lab", targets: ["ClusterLabTool"]),
        .executable(name: "vipsec-inbound-lab", targets: ["vipsec-inbound-lab"]),
        // The pure IKEv2 library, for the fuzz targets in Fuzz/.
        .library(name: "IKEv2", targets: ["IKEv2"]),
        // OpenSSL's IKE crypto, for the FuzzIKEResponder target.
        .library(name: "IKECrypto", targets: ["IKECrypto"]),
        // Certificate authentication, for the FuzzIKEResponderPubkey target.
        .library(name: "IKECertificates", targets: ["IKECertificates"]),
        // The fuzz harness (forges the initiator's AUTH), for Fuzz/ only: never in `vipsec`.
        .library(name: "IKEFuzzSupport", targets: ["IKEFuzzSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // X.509 chains for certificate authentication (brings swift-crypto and swift-asn1).
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // swift-crypto directly: X25519 in IKECrypto (X25519KeyExchange.swift), and the tests (certificate keys).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // The etcd v3 JSON gateway client (HACoordination): pooling, TLS client certificates.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Heap: the IKE daemon's NAT keepalive schedule (NATKeepaliveSchedule.swift).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(
            name: "CMNL",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // MARK: Kernel boundary
        .target(name: "Netlink", dependencies: ["CMNL"]),
        .target(name: "XFRM", dependencies: ["Netlink", "CMNL"]),
        // NFQUEUE over nfnetlink (libmnl): bind, receive queued packets, batched verdicts.
        .target(name: "NetfilterQueue", dependencies: ["Netlink", "CMNL"]),
        // The routing node's inbound set-up: nft interception, policy routing by mark.
        .target(name: "InboundRouting", dependencies: ["Netlink", "CMNL"]),

        // MARK: Key material and plain SA values (no dependencies), shared by IKEv2 and Cluster
        .target(name: "Secrets"),
        .target(name: "IPsecValues"),

        // MARK: IKEv2
        .target(name: "IKEv2", dependencies: ["Secrets", "IPsecValues", .product(name: "NIOCore", package: "swift-nio")]),
        .target(name: "IKECrypto", dependencies: ["IKEv2", "COpenSSL", .product(name: "Crypto", package: "swift-crypto")]),
        // Certificate authentication: RFC 7427 signatures with OpenSSL, chains with swift-certificates.
        .target(name: "IKECertificates", dependencies: [
            "IKEv2", "COpenSSL",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // One translation of a negotiated CHILD_SA into kernel SAs and policies, for the
        // standalone gateway's kernel and the targets' alike (IKEv2 → Cluster's SADescription → XFRM).
        .target(name: "KernelSA", dependencies: ["IKEv2", "Cluster", "XFRM"]),
        .target(name: "IKEDaemon", dependencies: [
            "IKEv2", "IKECrypto", "IKECertificates", "XFRM", "KernelSA", "Cluster", "UnixStream",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HeapModule", package: "swift-collections"),
        ]),

        // MARK: Cluster
        .target(name: "Cluster", dependencies: ["Secrets", "IPsecValues", .product(name: "NIOCore", package: "swift-nio")]),
        .target(name: "ClusterNode", dependencies: [
            "Cluster", "XFRM", "IKEv2", "KernelSA", "UnixStream", "InboundRouting",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Inbound distributor (claims 2-10, 21, 22)
        // Pure: ESP parsing, peek boundary, replay window, Maglev, connection table, classifier.
        .target(name: "Inbound", dependencies: ["Cluster", "Secrets"]),
        // OpenSSL peek decryption (AES-GCM, AES-CBC, ChaCha20) and the reference ESP sealer.
        .target(name: "InboundCrypto", dependencies: ["Inbound", "COpenSSL", "Secrets"]),
        // The routing node's distributor: NFQUEUE worker thread + classifier + forwarding set-up.
        .target(name: "InboundNode", dependencies: [
            "Inbound", "InboundCrypto", "NetfilterQueue", "InboundRouting", "Cluster", "ClusterNode",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "vipsec-inbound-bench", dependencies: ["Inbound", "InboundCrypto", "Cluster"],
                          path: "Sources/InboundBench"),

        // MARK: HA (issue 19): roles and election through etcd
        // Pure: the election and fencing state machine (no I/O, time injected).
        .target(name: "HAElection", dependencies: ["Cluster"]),
        // The etcd v3 client over the JSON gateway (async-http-client + swift-nio-ssl).
        .target(name: "HACoordination", dependencies: [
            "HAElection", "Cluster", "Secrets",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Operations
        .target(name: "Systemd", dependencies: ["CHardening"]),
        // The client end of a unix stream socket (status, control, a socket in use).
        .target(name: "UnixStream"),
        // prctl(2), capset(2), the per-thread id syscalls, and the per-thread drop (a signal to each thread).
        .target(name: "CHardening"),
        .target(name: "OperatorMetrics", dependencies: [
            "IKEDaemon", "ClusterNode",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // MARK: Command
        .executableTarget(name: "vipsec-cluster-bench", dependencies: [
            "Cluster", "ClusterNode", "XFRM", "IKEv2", "IKECrypto", "IKEDaemon", "VipsecTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/ClusterBench"),

        .executableTarget(name: "VipsecCLI", dependencies: [
            "IKEDaemon", "ClusterNode", "XFRM", "COpenSSL", "InboundNode", "Inbound", "Systemd", "OperatorMetrics", "UnixStream",
            "HACoordination", "HAElection", "Cluster",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "vipsec-crypto-bench", dependencies: ["IKECrypto", "IKEv2"],
                          path: "Sources/IKECryptoBench"),
        // Concurrent IKEv2 initiators for scripts/bench-ike (no kernel installs).
        .executableTarget(name: "vipsec-ike-load", dependencies: [
            "IKECrypto", "IKEv2", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/IKELoad"),
        // XFRM lab checks and benchmark, run inside the VM (netns-lab/scenarios/xfrm-roundtrip).
        // What the lab tools share (their options and error type); not shipped in `vipsec`.
        .target(name: "LabToolSupport"),
        .executableTarget(name: "XFRMLabTool", dependencies: ["XFRM", "Netlink", "LabToolSupport"]),
        // Inbound lab tool: a queue that marks ESP by SPI, and the forwarding set-up
        // (netns-lab/scenarios/inbound-queue, scripts/bench-inbound).
        .executableTarget(name: "vipsec-inbound-lab", dependencies: ["NetfilterQueue", "InboundRouting", "Netlink", "LabToolSupport"],
                          path: "Sources/InboundLabTool"),
        // Cluster lab tool: a routing node fed with test SAs, and a hostile cluster client
        // (netns-lab/scenarios/cluster-membership, cluster-bad-input).
        .executableTarget(name: "ClusterLabTool", dependencies: [
            "Cluster", "ClusterNode",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),

        // MARK: Tests
        // What several test targets share (a seeded generator, hex test data); not a product.
        .target(name: "VipsecTestSupport", dependencies: ["IKEv2"], path: "Tests/VipsecTestSupport"),
        // The fuzz harness: the entry points of the libFuzzer targets in Fuzz/ (scripts/fuzz) and
        // of the corpus replay tests. It drives a responder IKE_SA with the initiator's AUTH
        // forged from the SA's own keys (`package` access to IKEv2), so it is kept out of the
        // shipped command: only Fuzz/ and the test targets depend on it.
        .target(name: "IKEFuzzSupport", dependencies: [
            "IKEv2", "IKECertificates",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "CMNL"]),
        .testTarget(name: "NetfilterQueueTests", dependencies: ["NetfilterQueue", "InboundRouting", "Netlink", "CMNL", "VipsecTestSupport"]),
        .testTarget(name: "XFRMTests", dependencies: ["XFRM", "Netlink", "CMNL", "VipsecTestSupport"]),
        .testTarget(name: "KernelSATests", dependencies: ["KernelSA", "IKEv2", "Cluster", "XFRM", "Netlink", "VipsecTestSupport",
                                                         .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CMNL", "COpenSSL"]),
        .testTarget(name: "VipsecCLITests", dependencies: []),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd"]),
        .testTarget(name: "OperatorMetricsTests", dependencies: [
            "OperatorMetrics", "IKEDaemon", "ClusterNode", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "IKEDaemonTests", dependencies: ["IKEDaemon", "IKEv2", "IKECrypto", "KernelSA", "Cluster", "VipsecTestSupport", "IKEFuzzSupport",
                                                                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]),
        // Pure IKEv2, and (Conversations/) two of our IKE_SAs talking in memory with OpenSSL's crypto, no shell.
        .testTarget(name: "IKEv2Tests", dependencies: ["IKEv2", "IKECrypto", "Secrets", "VipsecTestSupport", "IKEFuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
                    exclude: ["Fixtures", "Corpus"]),
        .testTarget(name: "IKELoadTests", dependencies: ["vipsec-ike-load", "IKEv2", "IKECrypto"]),
        .testTarget(name: "IKECertificatesTests", dependencies: [
            "IKECertificates", "IKEv2", "IKEDaemon", "IKECrypto", "COpenSSL", "VipsecTestSupport", "IKEFuzzSupport",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "IKECryptoTests", dependencies: ["IKECrypto", "IKEv2", "VipsecTestSupport"], exclude: ["StrongSwanCapture"]),
        .testTarget(name: "HAElectionTests", dependencies: ["HAElection", "Cluster"]),
        .testTarget(name: "HACoordinationTests", dependencies: [
            "HACoordination", "HAElection", "Cluster", "VipsecTestSupport",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "VipsecTestSupport", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "InboundNodeTests", dependencies: [
            "InboundNode", "Inbound", "Cluster", "ClusterNode", "InboundRouting", "VipsecTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "InboundTests", dependencies: ["Inbound", "Cluster", "VipsecTestSupport"]),
        .testTarget(name: "InboundCryptoTests", dependencies: ["InboundCrypto", "Inbound", "Cluster", "COpenSSL", "VipsecTestSupport"]),
        .testTarget(name: "ClusterNodeTests", dependencies: [
            "Cluster", "ClusterNode", "IKEv2", "XFRM", "KernelSA", "IKEDaemon", "IKECrypto", "VipsecTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
