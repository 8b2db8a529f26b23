// vipsec-inbound-lab: the inbound distributor's kernel parts, driven by hand in the lab VM
// (netns-lab/scenarios/inbound-queue, scripts/bench-inbound). Run as root.
import LabToolSupport
import Glibc

let usage = """
usage: vipsec-inbound-lab COMMAND [--option value]...
  queue --queue N --mark-by-spi SPI=MARK,... [--copy-range B] [--max-length N] [--batch N]
        [--receive-slots N]
        marks each queued ESP packet by its SPI (IPv4/IPv6, ESP or UDP 4500), drops the rest;
        SIGUSR1 prints counters, SIGTERM prints them, unbinds and exits
  setup --dvipa A[,A6] --queues N|A-B --target MARK=ADDR,... [--mode direct | --mode encap --local ROUTER_CLUSTER_ADDR]
  blast --dst A --spi N [--seconds S] [--size B]   raw ESP packets as fast as possible (bench)
  teardown (same options as setup)
  target-setup --router ROUTER_CLUSTER_ADDR --local OWN_CLUSTER_ADDR    GRE decapsulation on a target
  target-teardown --router ROUTER_CLUSTER_ADDR --local OWN_CLUSTER_ADDR
"""

setvbuf(stdout, nil, _IOLBF, 0)
let words = CommandLine.arguments.dropFirst()
do {
    let args = try Arguments(words.dropFirst())
    switch words.first {
    case "queue": try QueueCommand.run(args)
    case "setup": try SetupCommand.setup(args)
    case "teardown": try SetupCommand.teardown(args)
    case "blast": try BlastCommand.run(args)
    case "target-setup": try SetupCommand.target(args, start: true)
    case "target-teardown": try SetupCommand.target(args, start: false)
    default:
        print(usage)
        exit(2)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
