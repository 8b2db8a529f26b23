import LabToolSupport
import Glibc
import XFRM

/// `scripts/bench xfrm`: install, dump and delete N SAs through our layer and through
/// `ip -batch` / `ip xfrm state`, same SAs, same run; prints a table with the ratio.
enum Bench {
    struct Row {
        var operation: String
        var ours: Duration
        var reference: Duration
    }

    static func keyBytes(_ spi: UInt32) -> [UInt8] {
        (0..<UInt32(20)).map { (index: UInt32) -> UInt8 in UInt8(truncatingIfNeeded: spi &+ index) }
    }

    static func keyHex(_ spi: UInt32) -> String {
        var text = "0x"
        for byte in keyBytes(spi) {
            let digits = String(byte, radix: 16)
            text += digits.count == 1 ? "0" + digits : digits
        }
        return text
    }

    /// An SA with reqid `reqid` (default: its SPI, a reqid each).
    static func state(_ spi: UInt32, _ source: XFRMAddress, _ destination: XFRMAddress, reqid: UInt32? = nil) -> XFRMAddState {
        let key = XFRMKey(keyBytes(spi))
        return XFRMAddState(id: XFRMStateID(source: source, destination: destination, spi: spi), reqid: reqid ?? spi,
                            mode: .transport, aead: .aesGCM(key: key), replay: XFRMReplayState(window: 32))
    }

    static func time(_ body: () throws -> Void) rethrows -> Duration {
        let start = ContinuousClock.now
        try body()
        return ContinuousClock.now - start
    }

    static func shell(_ command: String) throws {
        let status = system(command)
        guard status == 0 else { throw LabError("'\(command)' exited with \(status)") }
    }

    static func count(_ kernel: XFRMKernel) throws -> Int {
        var total = 0
        try kernel.forEachState { _ in total += 1 }
        return total
    }

    static func run(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let total = Int(try args.u32("count", default: 10_000))
        let source = try args.address("src")
        let destination = try args.address("dst")
        let spis = (0..<UInt32(total)).map { 0x10_0000 + $0 }
        let directory = args.optional("dir") ?? "/tmp"
        let addFile = "\(directory)/xfrm-bench-add.batch"
        let deleteFile = "\(directory)/xfrm-bench-del.batch"
        var addText = ""
        var deleteText = ""
        for spi in spis {
            addText += "xfrm state add src \(source) dst \(destination) proto esp spi \(hex(spi)) reqid \(spi) mode transport replay-window 32 aead rfc4106(gcm(aes)) \(keyHex(spi)) 128\n"
            deleteText += "xfrm state delete src \(source) dst \(destination) proto esp spi \(hex(spi))\n"
        }
        try write(addText, to: addFile)
        try write(deleteText, to: deleteFile)
        try kernel.flushStates()
        var rows: [Row] = []

        // Warm-up, unmeasured: the kernel's first 10,000 SAs pay for hash-table growth and
        // crypto instances whoever installs them first.
        let states = spis.map { state($0, source, destination) }
        _ = try kernel.addStates(states)
        try kernel.flushStates()

        // Ours: pipelined install, dump, delete; ip dumps the same SAs.
        var failures = 0
        let oursAdd = try time { failures = try kernel.addStates(states).compactMap { $0 }.count }
        guard failures == 0, try count(kernel) == total else { throw LabError("our install left \(failures) failures") }
        let oursDump = try time { guard try count(kernel) == total else { throw LabError("dump count") } }
        let ipDump = try time { try shell("ip xfrm state > /dev/null") }
        let oursDelete = try time { failures = try kernel.deleteStates(states.map(\.id)).compactMap { $0 }.count }
        guard failures == 0, try count(kernel) == 0 else { throw LabError("our delete left SAs") }

        // iproute2: the same SAs through ip -batch; we dump what ip installed.
        let ipAdd = try time { try shell("ip -batch \(addFile)") }
        guard try count(kernel) == total else { throw LabError("ip -batch did not install \(total)") }
        let oursDumpOfIP = try time { guard try count(kernel) == total else { throw LabError("dump count") } }
        let ipDumpOfIP = try time { try shell("ip xfrm state > /dev/null") }
        let ipDelete = try time { try shell("ip -batch \(deleteFile)") }
        guard try count(kernel) == 0 else { throw LabError("ip -batch delete left SAs") }

        // Ours again, one request and one ack per SA, as ip does it.
        let oursSerial = try time { for state in states { try kernel.addState(state) } }
        try kernel.flushStates()

        rows.append(Row(operation: "install \(total) SAs", ours: oursAdd, reference: ipAdd))
        rows.append(Row(operation: "install \(total) SAs, 1 req/ack each", ours: oursSerial, reference: ipAdd))
        rows.append(Row(operation: "dump \(total) SAs (ours installed)", ours: oursDump, reference: ipDump))
        rows.append(Row(operation: "dump \(total) SAs (ip installed)", ours: oursDumpOfIP, reference: ipDumpOfIP))
        rows.append(Row(operation: "delete \(total) SAs", ours: oursDelete, reference: ipDelete))
        printTable(rows)
        unlink(addFile)
        unlink(deleteFile)
        try sharedReqid(kernel, states: states, source: source, destination: destination)
    }

    /// The kernel hashes SAs by (destination, source, reqid), and every add walks its chain:
    /// N SAs between one pair of addresses under one reqid (what one reqid per configured
    /// child gave a responder's peers behind one address) against a reqid each (one per
    /// CHILD_SA's selectors, ReqidAllocator.swift). Both through our layer, pipelined.
    static func sharedReqid(_ kernel: XFRMKernel, states: [XFRMAddState], source: XFRMAddress, destination: XFRMAddress) throws {
        let shared = states.map { state($0.id.spi, source, destination, reqid: 1) }
        var failures = 0
        let eachAdd = try time { failures = try kernel.addStates(states).compactMap { $0 }.count }
        guard failures == 0 else { throw LabError("install with a reqid each: \(failures) failures") }
        let eachDelete = try time { failures = try kernel.deleteStates(states.map(\.id)).compactMap { $0 }.count }
        let sharedAdd = try time { failures = try kernel.addStates(shared).compactMap { $0 }.count }
        guard failures == 0 else { throw LabError("install under one reqid: \(failures) failures") }
        let sharedDelete = try time { failures = try kernel.deleteStates(shared.map(\.id)).compactMap { $0 }.count }
        try kernel.flushStates()
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        print("")
        print(pad("\(states.count) SAs, one address pair", 40) + " | " + pad("1 reqid ms", 10) + " | " + pad("each ms", 10)
              + " | shared/each")
        print(String(repeating: "-", count: 78))
        for (name, one, each) in [("install", sharedAdd, eachAdd), ("delete", sharedDelete, eachDelete)] {
            print(pad(name, 40) + " | " + pad(format(milliseconds(one), digits: 1), 10) + " | "
                  + pad(format(milliseconds(each), digits: 1), 10) + " | " + format(milliseconds(one) / milliseconds(each), digits: 2) + "x")
        }
        print("(both through vipsec's netlink layer; > 1 means the shared reqid costs more)")
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    static func printTable(_ rows: [Row]) {
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        print(pad("operation", 40) + " | " + pad("vipsec ms", 10) + " | " + pad("ip ms", 10) + " | ip/vipsec")
        print(String(repeating: "-", count: 78))
        for row in rows {
            let ours = milliseconds(row.ours)
            let reference = milliseconds(row.reference)
            let oursText: String = pad(format(ours, digits: 1), 10)
            let referenceText: String = pad(format(reference, digits: 1), 10)
            let ratio: String = format(reference / ours, digits: 2) + "x"
            let line: String = pad(row.operation, 40) + " | " + oursText + " | " + referenceText + " | " + ratio
            print(line)
        }
        print("(after one unmeasured warm-up install + flush; ip times include starting ip through sh;")
        print(" ratio > 1 means vipsec is faster)")
    }

    static func format(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return String(rounded)
    }

    static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "w") else { throw LabError("cannot write \(path)") }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw LabError("cannot write \(path)") }
    }
}
