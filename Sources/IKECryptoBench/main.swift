// vipsec-crypto-bench: key exchange operations per second, the crypto ceiling for
// IKE_SA_INIT rates. "op" = a fresh key pair + the shared secret (what a responder does per
// IKE_SA_INIT); "secret" = the shared-secret computation alone with a fixed key pair (the
// primitive, same run). X25519's op rate is the reference; every row shows its ratio to it.
// The last line is the bare OpenSSL X25519 derive on one prepared context (as `openssl speed
// ecdhx25519`), the ceiling for any X25519 code on this machine, with our op rate as a ratio.
// Then the crypto floor of one responder setup (`SetupFloorBenchmark`: X25519, RNG, IKE SA
// keys, NAT detection, IKE_AUTH's AEAD and PSK AUTH, KEYMAT), as one machine-readable line
// `setup floor: total_us=... ...` that scripts/bench-ike puts beside the responder's CPU per setup.
// All rates are per CPU-second of the measuring thread.
//
//   vipsec-crypto-bench [iterations]        (default 2000; MODP uses a tenth of that)
//   vipsec-crypto-bench floor [iterations]  the setup floor line alone

import Foundation
import IKECrypto
import IKEv2

let floorOnly = CommandLine.arguments.dropFirst().first == "floor"
let iterations = CommandLine.arguments.dropFirst(floorOnly ? 2 : 1).first.flatMap { Int($0) } ?? 2000
let rows: [(KeyExchangeMethod, Int)] = [
    (.curve25519, iterations), (.ecp256, iterations), (.ecp384, max(iterations / 4, 1)), (.modp2048, max(iterations / 10, 1)),
]
func printFloor() throws {
    let floor = try SetupFloorBenchmark.measure(iterations: iterations)
    print(String(format: "setup floor: total_us=%.1f x25519_us=%.1f random_us=%.1f ike_keys_us=%.1f nat_d_us=%.1f ike_auth_us=%.1f child_keys_us=%.1f",
                 floor.total, floor.keyExchange, floor.randomness, floor.ikeSAKeys, floor.natDetection, floor.authExchange, floor.childSAKeys))
}
do {
    if floorOnly {
        try printFloor()
        exit(0)
    }
    var reference = 0.0
    print("method       iterations      op/s  op vs X25519   secret/s  op/secret")
    for (method, count) in rows {
        let rate = try KeyExchangeBenchmark.measure(method, iterations: count)
        let secretRate = try KeyExchangeBenchmark.measureSharedSecretOnly(method, iterations: count)
        if method == .curve25519 { reference = rate }
        let name = method.description.padding(toLength: 12, withPad: " ", startingAt: 0)
        let ratio = reference > 0 ? rate / reference : 0
        print("\(name) \(String(count).leftPadded(10)) \(String(Int(rate)).leftPadded(9)) \(String(format: "%.2fx", ratio).leftPadded(13))"
              + " \(String(Int(secretRate)).leftPadded(10)) \(String(format: "%.2f", rate / max(secretRate, 1e-9)).leftPadded(10))")
    }
    let openSSL = try KeyExchangeBenchmark.measureOpenSSLX25519(iterations: iterations)
    print("X25519 with OpenSSL 3 (before swift-crypto): \(Int(openSSL)) op/s, \(String(format: "%.2fx", openSSL / max(reference, 1e-9))) of ours")
    let ceiling = try KeyExchangeBenchmark.measureX25519PrimitiveCeiling(iterations: iterations * 4)
    print("X25519 primitive ceiling (EVP_PKEY_derive, prepared context): \(Int(ceiling)) /s;"
          + " our X25519 op = \(String(format: "%.2f", reference / max(ceiling, 1e-9)))x of it")
    try printFloor()
} catch {
    print("vipsec-crypto-bench: \(error)")
    exit(1)
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
