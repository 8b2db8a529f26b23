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

    func u32(_ name: String, default fallback: UInt32? = nil) throws -> UInt32 {
        guard let text = values[name] else {
            if let fallback { return fallback }
            throw LabError("missing --\(name)")
        }
        guard let value = parseNumber(text) else { throw LabError("--\(name) '\(text)' is not a 32-bit number") }
        return value
    }

    /// `K=V,K=V` pairs of --name, each side given to `parse`.
    func pairs<K, V>(_ name: String, _ parse: (Substring, Substring) -> (K, V)?) throws -> [(K, V)] {
        try string(name).split(separator: ",").map { item in
            let sides = item.split(separator: "=", maxSplits: 1)
            guard sides.count == 2, let pair = parse(sides[0], sides[1]) else {
                throw LabError("--\(name): '\(item)' is not KEY=VALUE")
            }
            return pair
        }
    }
}

/// 0x-prefixed hex or decimal, at most 32 bits.
func parseNumber(_ text: some StringProtocol) -> UInt32? {
    text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
}

struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
