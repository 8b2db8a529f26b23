// vipsec-cluster-lab: the cluster's lab helpers, run inside the lab VM.
//
//   vipsec-cluster-lab routing OPTIONS     a routing node's cluster side (ClusterService) fed with
//                                          TEST SAs instead of IKE: until the IKE daemon drives
//                                          `ClusterService.install`, this is how the lab puts SAs
//                                          into the targets' kernels. Random keys, real installs.
//   vipsec-cluster-lab hostile OPTIONS     a client with valid cluster credentials that sends
//                                          malformed frames (cluster-bad-input)
//   vipsec-cluster-lab plaintext HOST:PORT garbage without TLS on the cluster port
import Cluster
import ClusterNode
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

setvbuf(stdout, nil, _IOLBF, 0)

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("vipsec-cluster-lab: \(text)\n".utf8))
    exit(2)
}

func options(_ arguments: ArraySlice<String>) -> [String: String] {
    var result: [String: String] = [:]
    var iterator = arguments.makeIterator()
    while let name = iterator.next() {
        guard name.hasPrefix("--") else { fail("unexpected argument \(name)") }
        guard let value = iterator.next() else { fail("\(name) needs a value") }
        result[String(name.dropFirst(2))] = value
    }
    return result
}

func address(_ text: String) -> IPAddress {
    let parts = text.split(separator: ".").compactMap { UInt8($0) }
    guard parts.count == 4 else { fail("'\(text)' is not an IPv4 address") }
    return .v4(parts[0], parts[1], parts[2], parts[3])
}

func prefix(_ text: String) -> (IPAddress, UInt8) {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let length = UInt8(parts[1]) else { fail("'\(text)' is not ADDR/LEN") }
    return (address(String(parts[0])), length)
}

func hostPort(_ text: String) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        fail("'\(text)' is not HOST:PORT")
    }
    return (String(text[..<colon]), port)
}

func credentials(_ values: [String: String]) -> ClusterCredentials {
    guard let cert = values["cert"], let key = values["key"], let ca = values["ca"] else { fail("--cert, --key and --ca are required") }
    do {
        return try ClusterCredentials(certificatePath: cert, keyPath: key, caPath: ca)
    } catch {
        fail("\(error)")
    }
}

/// A random AES-GCM-128 key with its 4-byte salt.
func randomKey() -> SecretBytes {
    var generator = SystemRandomNumberGenerator()
    return SecretBytes(count: 20) { raw in
        for index in 0..<20 { raw[index] = UInt8.random(in: 0...255, using: &generator) }
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: vipsec-cluster-lab routing|hostile|plaintext ...") }
switch arguments[1] {
case "routing": runRouting(options(arguments.dropFirst(2)))
case "hostile": runHostile(options(arguments.dropFirst(2)))
case "plaintext":
    guard arguments.count > 2 else { fail("usage: plaintext HOST:PORT") }
    runPlaintext(arguments[2])
default: fail("unknown command \(arguments[1])")
}
