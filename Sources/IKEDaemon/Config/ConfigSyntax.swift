// The syntax of vipsec's configuration file: strongSwan's settings syntax (swanctl.conf),
// a tree of `name { ... }` sections holding `key = value` lines.
//
//     connections {            # a section
//         gw {
//             version = 2      # a key and its value (one per line, to the end of the line)
//             local { auth = psk }
//         }
//     }
//
// This file only builds the tree; what the keys mean is decided by the typed config
// (`DaemonConfig`), which reports unknown keys by file, line and name.

/// A configuration error, naming the file, the line and the key (when there is one).
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The file the error is in.
    public var file: String
    /// The 1-based line number, or 0 when the error concerns the whole file.
    public var line: Int
    /// The key (dotted path such as `connections.gw.proposals`) the error is about, if any.
    public var key: String?
    /// What is wrong, in words for the operator.
    public var message: String

    public init(file: String, line: Int, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let location = line > 0 ? "\(file):\(line)" : file
        if let key { return "\(location): \(key): \(message)" }
        return "\(location): \(message)"
    }
}

/// One `key = value` line.
public struct ConfigEntry: Equatable, Sendable {
    public var key: String
    public var value: String
    public var line: Int
}

/// One `name { ... }` section with its entries and subsections, in file order.
public struct ConfigSection: Equatable, Sendable {
    public var name: String
    /// The line of the section's opening `{` (0 for the file's root).
    public var line: Int
    public var entries: [ConfigEntry] = []
    public var sections: [ConfigSection] = []

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }

    /// The entry for `key`, if present.
    public func entry(_ key: String) -> ConfigEntry? { entries.first { $0.key == key } }

    /// The subsection called `name`, if present.
    public func section(_ name: String) -> ConfigSection? { sections.first { $0.name == name } }
}

/// Parses the settings syntax into a `ConfigSection` tree.
public enum ConfigSyntax {
    /// Parses `text` (the contents of `file`, used in errors) into the root section.
    public static func parse(_ text: String, file: String) throws -> ConfigSection {
        var parser = Parser(characters: Array(text.unicodeScalars), file: file)
        return try parser.parseRoot()
    }

    private struct Parser {
        let characters: [Unicode.Scalar]
        let file: String
        var index = 0
        var line = 1

        init(characters: [Unicode.Scalar], file: String) {
            self.characters = characters
            self.file = file
        }

        mutating func parseRoot() throws -> ConfigSection {
            var stack = [ConfigSection(name: "", line: 0)]
            while true {
                skipBlanksAndComments()
                guard index < characters.count else { break }
                let character = characters[index]
                if character == "\n" || character == ";" {
                    advance()
                    continue
                }
                if character == "}" {
                    advance()
                    guard stack.count > 1, let closed = stack.popLast() else {
                        throw error("'}' without a matching section")
                    }
                    stack[stack.count - 1].sections.append(closed)
                    continue
                }
                let name = readName()
                guard !name.isEmpty else {
                    throw error("unexpected character '\(character)'")
                }
                skipBlanks()
                let path = (stack.dropFirst().map(\.name) + [name]).joined(separator: ".")
                if index < characters.count, characters[index] == "{" {
                    advance()
                    guard stack[stack.count - 1].section(name) == nil else {
                        throw ConfigError(file: file, line: line, key: path, message: "section defined twice")
                    }
                    stack.append(ConfigSection(name: name, line: line))
                } else if index < characters.count, characters[index] == "=" {
                    advance()
                    let entryLine = line
                    let value = try readValue(key: path)
                    guard stack[stack.count - 1].entry(name) == nil else {
                        throw ConfigError(file: file, line: entryLine, key: path, message: "key set twice")
                    }
                    stack[stack.count - 1].entries.append(ConfigEntry(key: name, value: value, line: entryLine))
                } else {
                    throw ConfigError(file: file, line: line, key: path, message: "expected '=' or '{' after the name")
                }
            }
            guard stack.count == 1 else {
                let open = stack[stack.count - 1]
                throw ConfigError(file: file, line: open.line, key: open.name,
                                  message: "section is never closed (missing '}')")
            }
            return stack[0]
        }

        mutating func advance() {
            if characters[index] == "\n" { line += 1 }
            index += 1
        }

        mutating func skipBlanks() {
            while index < characters.count, characters[index] == " " || characters[index] == "\t" || characters[index] == "\r" {
                index += 1
            }
        }

        mutating func skipBlanksAndComments() {
            skipBlanks()
            if index < characters.count, characters[index] == "#" {
                while index < characters.count, characters[index] != "\n" { index += 1 }
            }
        }

        static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
            switch c {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "%", "*", "@": return true
            default: return false
            }
        }

        mutating func readName() -> String {
            var name = String.UnicodeScalarView()
            while index < characters.count, Self.isNameCharacter(characters[index]) {
                name.append(characters[index])
                index += 1
            }
            return String(name)
        }

        /// Reads a value to the end of the line (or a `#` comment, `;`, or a closing `}`);
        /// a value in double quotes may hold any of those.
        mutating func readValue(key: String) throws -> String {
            skipBlanks()
            if index < characters.count, characters[index] == "\"" {
                index += 1
                var value = String.UnicodeScalarView()
                while true {
                    guard index < characters.count, characters[index] != "\n" else {
                        throw ConfigError(file: file, line: line, key: key, message: "unterminated quoted value")
                    }
                    let c = characters[index]
                    index += 1
                    if c == "\"" { break }
                    if c == "\\", index < characters.count, characters[index] != "\n" {
                        value.append(characters[index])
                        index += 1
                        continue
                    }
                    value.append(c)
                }
                return String(value)
            }
            var value = String.UnicodeScalarView()
            while index < characters.count {
                let c = characters[index]
                if c == "\n" || c == "#" || c == ";" || c == "}" { break }
                value.append(c)
                index += 1
            }
            return String(value).trimmingBlanks()
        }

        func error(_ message: String) -> ConfigError {
            ConfigError(file: file, line: line, message: message)
        }
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingBlanks() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" }),
              let end = scalars.lastIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) else { return "" }
        return String(scalars[start...end])
    }
}
