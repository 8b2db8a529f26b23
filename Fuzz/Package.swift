// swift-tools-version:6.0
// libFuzzer targets for vipsec's parsers. Kept apart from the main package because a fuzz
// target must be built with -sanitize=fuzzer, which the main build must not be. Built and
// run by scripts/fuzz.
import PackageDescription

let package = Package(
    name: "vipsec-fuzz",
    dependencies: [.package(name: "vipsec", path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .executableTarget(
            name: "FuzzIKEMessage",
            dependencies: ["CFuzzer", .product(name: "IKEv2", package: "vipsec"), .product(name: "IKEFuzzSupport", package: "vipsec")]
        ),
        .executableTarget(
            name: "FuzzIKEResponder",
            dependencies: ["CFuzzer", .product(name: "IKEv2", package: "vipsec"), .product(name: "IKEFuzzSupport", package: "vipsec"), .product(name: "IKECrypto", package: "vipsec")]
        ),
        .executableTarget(
            name: "FuzzIKEResponderPubkey",
            dependencies: ["CFuzzer", .product(name: "IKEv2", package: "vipsec"), .product(name: "IKEFuzzSupport", package: "vipsec"), .product(name: "IKECrypto", package: "vipsec"),
                           .product(name: "IKECertificates", package: "vipsec")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
