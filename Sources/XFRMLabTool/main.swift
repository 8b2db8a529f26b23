// vipsec-xfrm-lab: drives the XFRM layer against the real kernel for the lab scenario
// `xfrm-roundtrip` and the `bench xfrm` benchmark. Run as root inside the VM.
import LabToolSupport
import Glibc
import XFRM

let usage = """
usage: vipsec-xfrm-lab COMMAND [--option value]...
  add-suite --src A --dst B --src6 A6 --dst6 B6 --offload-dev DEV
  show --src A --dst B --spi N [--mark 0xV/0xM] [--expect-key HEX] [--expect-auth-key HEX]
  dump | policies | flush
  get-policy|delete-policy --src A --dst B --index I   (suite policy I)
  allocspi --src A --dst B --min N --max N [--reqid R]
  add|update --src A --dst B --spi N [--reqid R] [--window W] [--esn yes] [--soft-seconds S --hard-seconds H]
             [--soft-packets P] [--replay-thresh N]
  delete --src A --dst B --spi N
  counters --src A --dst B --spi N
  set-oseq --src A --dst B --spi N --oseq N
  set-thresholds --src A --dst B --spi N --replay N --timer N
  monitor --seconds N [--stop-file PATH]   (ends early once PATH exists)
  pair --local A --remote B --spi-out N --spi-in N [--replay-thresh N]
  errors --src A --dst B
  bench --count N --src A --dst B
"""

func run() throws -> Int32 {
    let words = CommandLine.arguments.dropFirst()
    guard let command = words.first else {
        print(usage)
        return 2
    }
    let args = try Arguments(words.dropFirst())
    if command == "monitor" {
        try Commands.monitor(args)
        return 0
    }
    let kernel = try XFRMKernel()
    switch command {
    case "add-suite": try Commands.addSuite(kernel, args)
    case "show": try Commands.show(kernel, args)
    case "dump": try Commands.dump(kernel)
    case "policies": try Commands.policies(kernel)
    case "get-policy": try Commands.getPolicy(kernel, args, delete: false)
    case "delete-policy": try Commands.getPolicy(kernel, args, delete: true)
    case "allocspi": try Commands.allocateSPI(kernel, args)
    case "add": try Commands.addOne(kernel, args, update: false)
    case "update": try Commands.addOne(kernel, args, update: true)
    case "delete": try Commands.delete(kernel, args)
    case "counters": try Commands.counters(kernel, args)
    case "set-oseq": try Commands.setOutputSequence(kernel, args)
    case "set-thresholds": try Commands.setThresholds(kernel, args)
    case "pair": try Commands.pair(kernel, args)
    case "flush": try Commands.flush(kernel)
    case "errors":
        return try runErrorCases(kernel, source: try args.address("src"), destination: try args.address("dst")) ? 0 : 1
    case "bench": try Bench.run(kernel, args)
    default:
        print(usage)
        return 2
    }
    return 0
}

do {
    exit(try run())
} catch {
    print("error: \(error)")
    exit(1)
}
