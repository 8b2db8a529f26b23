// vipsec-crypto-bench: key exchange operations per second (key pair + shared secret), the
// crypto ceiling for IKE_SA_INIT rates. X25519 is the reference row; the others are shown
// as ratios to it, measured in the same run.
//
//   vipsec-crypto-bench [iterations]      (default 2000; MODP uses a tenth of that)

import Foundation
import IKECrypto
import IKEv2

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 2000
let rows: [(KeyExchangeMethod, Int)] = [
    (.curve25519, iterations), (.ecp256, iterations), (.ecp384, max(iterations / 4, 1)), (.modp2048, max(iterations / 10, 1)),
]
do {
    var reference = 0.0
    print("method       iterations      ops/s   vs X25519")
    for (method, count) in rows {
        let rate = try KeyExchangeBenchmark.measure(method, iterations: count)
        if method == .curve25519 { reference = rate }
        let name = method.description.padding(toLength: 12, withPad: " ", startingAt: 0)
        let ratio = reference > 0 ? rate / reference : 0
        print("\(name) \(String(count).leftPadded(10)) \(String(Int(rate)).leftPadded(10))   \(String(format: "%.2fx", ratio))")
    }
} catch {
    print("vipsec-crypto-bench: \(error)")
    exit(1)
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
