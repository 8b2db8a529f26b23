// What the lab tools (vipsec-xfrm-lab, vipsec-inbound-lab) share: their `--name value`
// options and their one error type. Lab tools only; nothing here ships in `vipsec`.

/// `--name value` options of one subcommand; every lookup names the missing or bad option.
public struct Arguments {
    private var values: [String: String] = [:]

    public init(_ words: ArraySlice<String>) throws {
        var iterator = words.makeIterator()
        while let word = iterator.next() {
            guard word.hasPrefix("--") else { throw LabError("unexpected argument '\(word)'") }
            guard let value = iterator.next() else { throw LabError("\(word) needs a value") }
            values[String(word.dropFirst(2))] = value
        }
    }

    public func string(_ name: String) throws -> String {
        guard let value = values[name] else { throw LabError("missing --\(name)") }
        return value
    }

    public func optional(_ name: String) -> String? { values[name] }

    /// A 0x-prefixed hex or decimal number; `fallback` when the option is absent.
    public func number(_ name: String, default fallback: UInt64? = nil) throws -> UInt64 {
        guard let text = values[name] else {
            if let fallback { return fallback }
            throw LabError("missing --\(name)")
        }
        let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let parsed else { throw LabError("--\(name) '\(text)' is not a number") }
        return parsed
    }

    public func u32(_ name: String, default fallback: UInt32? = nil) throws -> UInt32 {
        let value = try number(name, default: fallback.map(UInt64.init))
        guard value <= UInt32.max else { throw LabError("--\(name) is over 32 bits") }
        return UInt32(value)
    }

    /// `K=V,K=V` pairs of --name, each side given to `parse`.
    public func pairs<K, V>(_ name: String, _ parse: (Substring, Substring) -> (K, V)?) throws -> [(K, V)] {
        try string(name).split(separator: ",").map { item in
            let sides = item.split(separator: "=", maxSplits: 1)
            guard sides.count == 2, let pair = parse(sides[0], sides[1]) else {
                throw LabError("--\(name): '\(item)' is not KEY=VALUE")
            }
            return pair
        }
    }
}

public struct LabError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
