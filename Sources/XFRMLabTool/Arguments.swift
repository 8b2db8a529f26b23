import Glibc
import XFRM

/// `--name value` options of one subcommand; every lookup names the missing or bad option.
struct Arguments {
    private var values: [String: String] = [:]

    init(_ words: ArraySlice<String>) throws {
        var iterator = words.makeIterator()
        while let word = iterator.next() {
            guard word.hasPrefix("--") else { throw LabError("unexpected argument '\(word)'") }
            guard let value = iterator.next() else { throw LabError("\(word) needs a value") }
            values[String(word.dropFirst(2))] = value
        }
    }

    func string(_ name: String) throws -> String {
        guard let value = values[name] else { throw LabError("missing --\(name)") }
        return value
    }

    func optional(_ name: String) -> String? { values[name] }

    func address(_ name: String) throws -> XFRMAddress {
        let text = try string(name)
        guard let address = XFRMAddress(text) else { throw LabError("--\(name) '\(text)' is not an address") }
        return address
    }

    func number(_ name: String, default fallback: UInt64? = nil) throws -> UInt64 {
        guard let text = values[name] else {
            if let fallback { return fallback }
            throw LabError("missing --\(name)")
        }
        let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let parsed else { throw LabError("--\(name) '\(text)' is not a number") }
        return parsed
    }

    func u32(_ name: String, default fallback: UInt32? = nil) throws -> UInt32 {
        let value = try number(name, default: fallback.map(UInt64.init))
        guard value <= UInt32.max else { throw LabError("--\(name) is over 32 bits") }
        return UInt32(value)
    }

    /// The SA named by --src --dst --spi [--mark V/M].
    func stateID() throws -> XFRMStateID {
        var mark: XFRMMark?
        if let text = values["mark"] {
            let parts = text.split(separator: "/").compactMap { UInt32($0.dropFirst(2), radix: 16) }
            guard parts.count == 2 else { throw LabError("--mark wants 0xV/0xM") }
            mark = XFRMMark(value: parts[0], mask: parts[1])
        }
        return XFRMStateID(source: try address("src"), destination: try address("dst"),
                           spi: try u32("spi"), proto: .esp, mark: mark)
    }
}

struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Deterministic test keys (lab only): byte i = seed + i.
func labKey(_ length: Int, seed: UInt8) -> XFRMKey {
    XFRMKey((0..<length).map { seed &+ UInt8(truncatingIfNeeded: $0) })
}

func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
