// swift-tools-version:6.0
// libFuzzer targets for vipsec's parsers. Kept apart from the main package because a fuzz
// target has no `main` of its own (libFuzzer brings it). Built and run by scripts/fuzz.
import PackageDescription

let package = Package(
    name: "vipsec-fuzz",
    dependencies: [.package(name: "vipsec", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzIKEMessage",
            dependencies: [.product(name: "IKEv2", package: "vipsec")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
