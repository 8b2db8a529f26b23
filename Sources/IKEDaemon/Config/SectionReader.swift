// Reads typed values out of one `ConfigSection`, remembering which keys were used so that
// an unknown (misspelt) key is reported by file, line and name instead of being ignored.

struct SectionReader {
    let section: ConfigSection
    let file: String
    /// The dotted path of the section (`connections.gw.local`).
    let path: String
    private var usedKeys: Set<String> = []
    private var usedSections: Set<String> = []

    init(_ section: ConfigSection, file: String, path: String) {
        self.section = section
        self.file = file
        self.path = path
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ entry: ConfigEntry, _ message: String) -> ConfigError {
        ConfigError(file: file, line: entry.line, key: keyPath(entry.key), message: message)
    }

    /// An error about the section itself (a missing key, say).
    func error(missing key: String) -> ConfigError {
        ConfigError(file: file, line: section.line, key: keyPath(key), message: "missing (required)")
    }

    mutating func entry(_ key: String) -> ConfigEntry? {
        usedKeys.insert(key)
        return section.entry(key)
    }

    mutating func subsection(_ name: String) -> SectionReader? {
        usedSections.insert(name)
        return section.section(name).map { SectionReader($0, file: file, path: keyPath(name)) }
    }

    /// All subsections, each marked used (for `connections { <name> { ... } }`).
    mutating func allSubsections() -> [SectionReader] {
        section.sections.map {
            usedSections.insert($0.name)
            return SectionReader($0, file: file, path: keyPath($0.name))
        }
    }

    mutating func string(_ key: String) -> String? { entry(key)?.value }

    mutating func requiredString(_ key: String) throws -> String {
        guard let value = entry(key)?.value, !value.isEmpty else { throw error(missing: key) }
        return value
    }

    mutating func list(_ key: String) -> [String] { entry(key).map { ConfigValue.list($0.value) } ?? [] }

    mutating func duration(_ key: String, default value: Double) throws -> Double {
        guard let entry = entry(key) else { return value }
        guard let seconds = ConfigValue.duration(entry.value) else {
            throw error(entry, "'\(entry.value)' is not a duration (e.g. 30s, 10m, 4h, 1d)")
        }
        return seconds
    }

    /// A duration that must lie in `range` (seconds).
    mutating func duration(_ key: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        let seconds = try duration(key, default: value)
        if !range.contains(seconds), let entry = section.entry(key) {
            throw error(entry, "'\(entry.value)' is out of range: \(Self.seconds(range.lowerBound)) to \(Self.seconds(range.upperBound))")
        }
        return seconds
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }

    mutating func optionalDuration(_ key: String) throws -> Double? {
        guard section.entry(key) != nil else { usedKeys.insert(key); return nil }
        return try duration(key, default: 0)
    }

    mutating func count(_ key: String, default value: UInt64) throws -> UInt64 {
        guard let entry = entry(key) else { return value }
        guard let number = ConfigValue.count(entry.value) else {
            throw error(entry, "'\(entry.value)' is not a count (e.g. 1000, 64k, 500m, 2g)")
        }
        return number
    }

    mutating func integer(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let entry = entry(key) else { return value }
        guard let number = Int(entry.value), range.contains(number) else {
            throw error(entry, "'\(entry.value)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    mutating func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let entry = entry(key) else { return value }
        guard let flag = ConfigValue.bool(entry.value) else {
            throw error(entry, "'\(entry.value)' is not yes or no")
        }
        return flag
    }

    /// One of `choices` (the value as written maps to a case).
    mutating func choice<T>(_ key: String, default value: T, _ choices: [String: T]) throws -> T {
        guard let entry = entry(key) else { return value }
        guard let chosen = choices[entry.value] else {
            throw error(entry, "'\(entry.value)' is not one of \(choices.keys.sorted().joined(separator: ", "))")
        }
        return chosen
    }

    /// Fails on the first key or subsection that nothing read.
    func rejectUnknown() throws {
        if let unknown = section.entries.first(where: { !usedKeys.contains($0.key) }) {
            throw error(unknown, "unknown key")
        }
        if let unknown = section.sections.first(where: { !usedSections.contains($0.name) }) {
            throw ConfigError(file: file, line: unknown.line, key: keyPath(unknown.name), message: "unknown section")
        }
    }
}
