// The status socket's document as a stream of pieces (issue 20): the node's SAs are encoded
// `sasPerPiece` at a time, on the node's loop, each piece written before the next is made, so
// neither the whole `NodeStatus` nor its whole JSON (about 1 KB per SA pretty-printed: 100 MB
// at 100,000) is ever built, and the cluster loop serves installs, acknowledgements and
// heartbeats between pieces. The pieces joined are byte for byte the document `JSONEncoder`
// (pretty-printed, keys sorted) makes of the whole status, and a final newline: what the
// socket always sent. The same design as the control socket's OperatorResponseStream.swift.
//
// Consistency: the head (members, drops, events, held responses, inbound, HA) is as of the
// first piece; the SA list is the SAs present then, in id order, each as it is when its piece
// is encoded. An SA removed before its piece is left out; an SA added after the first piece is
// not listed (the next read lists it). So holders/pending of two SAs may be of different
// moments, never a half-updated SA. Pure, apart from the `elements` function it is given.
import Foundation

public struct NodeStatusStream {
    /// SAs per piece (and so per turn of the node's loop).
    public static let sasPerPiece = 256

    /// The status without its SAs (`routing.sas` or `target.sas` empty).
    private let head: NodeStatus
    /// How many SA positions there are; `elements(range)` returns those of `range` that still
    /// exist, in order. Called on the node's loop, one range per piece.
    private let count: Int
    private let elements: (Range<Int>) -> [any Encodable]
    private let sasPerPiece: Int
    private let encoder: JSONEncoder
    /// The next position; nil once the closing piece has been returned.
    private var next: Int? = 0
    /// The head's JSON split where the SAs go: up to and including "[", the indentation of
    /// the "sas" key, and what follows the "]".
    private var frame: (prefix: Data, indent: Data, suffix: Data)?
    private var listed = 0
    /// The most SAs encoded for one piece (the tests' work counter).
    public private(set) var mostSAsInAPiece = 0

    public init(head: NodeStatus, count: Int, sasPerPiece: Int = Self.sasPerPiece,
                elements: @escaping (Range<Int>) -> [any Encodable]) {
        self.head = head
        self.count = count
        self.elements = elements
        self.sasPerPiece = max(1, sasPerPiece)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    }

    /// A stream of a status already built whole (tests; a node without a streaming source).
    public init(whole status: NodeStatus, sasPerPiece: Int = Self.sasPerPiece) {
        var head = status
        let routingSAs = status.routing?.sas ?? []
        let targetSAs = status.target?.sas ?? []
        head.routing?.sas = []
        head.target?.sas = []
        let elements: (Range<Int>) -> [any Encodable]
        if routingSAs.isEmpty {
            elements = { range in targetSAs[range].map { $0 as any Encodable } }
        } else {
            elements = { range in routingSAs[range].map { $0 as any Encodable } }
        }
        self.init(head: head, count: routingSAs.count + targetSAs.count, sasPerPiece: sasPerPiece, elements: elements)
    }

    /// The next piece, nil when the document (and its final newline) is complete.
    public mutating func nextPiece() -> Data? {
        guard let start = next else { return nil }
        var piece = Data()
        if start == 0 {
            guard let head = try? encoder.encode(head) else {
                next = nil
                return Data("{}\n".utf8)
            }
            guard count > 0 else {
                next = nil
                return head + Data("\n".utf8)
            }
            guard let split = Self.split(head) else {
                // Cannot happen with NodeStatus's keys (the tests prove the split); if it did, a
                // loud error rather than a document without its SAs.
                next = nil
                return Data("{\"error\": \"the status document could not be streamed\"}\n".utf8)
            }
            frame = split
            piece.append(split.prefix)
        }
        guard let frame else { return nil }
        let end = min(start + sasPerPiece, count)
        let sas = elements(start..<end)
        mostSAsInAPiece = max(mostSAsInAPiece, sas.count)
        let elementIndent = frame.indent + Data("  ".utf8)
        for sa in sas {
            piece.append(Data((listed == 0 ? "\n" : ",\n").utf8))
            piece.append(elementIndent)
            piece.append(Self.indented((try? sa.encoded(with: encoder)) ?? Data("{\n\n}".utf8), by: elementIndent))
            listed += 1
        }
        if end == count {
            // With SAs the list closes "\n<indent>]"; the empty head's "[\n\n<indent>]" stays as it is.
            piece.append(listed == 0 ? frame.suffix : frame.suffix.dropFirst())
            piece.append(UInt8(ascii: "\n"))
            next = nil
        } else {
            next = end
        }
        return piece
    }

    /// Splits the head's JSON at its empty SA list, `"sas" : [\n\n<indent>]`: the last such list
    /// in the document, `routing.sas` or `target.sas` (the keys are sorted, and no key after
    /// `routing` or `target` holds a list named "sas"). Keys may follow it: a target's `term`
    /// (HA) sorts after `sas`.
    static func split(_ json: Data) -> (prefix: Data, indent: Data, suffix: Data)? {
        let bytes = [UInt8](json)
        let key = [UInt8]("\"sas\" : [".utf8)
        guard bytes.count >= key.count else { return nil }
        var at = bytes.count - key.count
        while at >= 0, Array(bytes[at..<at + key.count]) != key { at -= 1 }
        guard at > 0 else { return nil }
        var lineStart = at
        while lineStart > 0, bytes[lineStart - 1] == UInt8(ascii: " ") { lineStart -= 1 }
        guard lineStart > 0, bytes[lineStart - 1] == UInt8(ascii: "\n") else { return nil }
        let indent = Array(bytes[lineStart..<at])
        let open = at + key.count
        let suffix = Array(bytes[open...])
        // The empty list closes at once, at the key's indentation; what follows it is kept.
        let expected = [UInt8]("\n\n".utf8) + indent + [UInt8(ascii: "]")]
        guard suffix.starts(with: expected) else { return nil }
        return (Data(bytes[..<open]), Data(indent), Data(suffix))
    }

    /// An element's pretty JSON as it reads nested at `indent`: every line but the first and
    /// the empty ones (inside `[\n\n]`) gets the indent.
    static func indented(_ json: Data, by indent: Data) -> Data {
        var out = Data()
        out.reserveCapacity(json.count + json.count / 8)
        var previous: UInt8 = 0
        for byte in json {
            if previous == UInt8(ascii: "\n"), byte != UInt8(ascii: "\n") { out.append(indent) }
            out.append(byte)
            previous = byte
        }
        return out
    }
}

extension Encodable {
    fileprivate func encoded(with encoder: JSONEncoder) throws -> Data { try encoder.encode(self) }
}
