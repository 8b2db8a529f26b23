// The control socket's answer as a stream of pieces: a listing of N IKE_SAs is encoded a few
// hundred entries at a time, each piece written (and flushed) before the next is encoded, so
// the daemon never holds the whole JSON document (about 840 bytes per IKE_SA: 84 MB at
// 100,000) and the event loop serves other work between pieces. The pieces joined are the
// same document `JSONEncoder` makes of the whole response (keys sorted). Pure.
import Foundation

struct OperatorResponseStream {
    /// IKE_SAs per piece.
    static let entriesPerPiece = 256

    private let response: OperatorResponse
    private let entriesPerPiece: Int
    private let encoder: JSONEncoder
    /// The next entry to encode; nil once the closing piece has been returned.
    private var next: Int? = 0
    private var opened = false

    init(_ response: OperatorResponse, entriesPerPiece: Int = Self.entriesPerPiece) {
        self.response = response
        self.entriesPerPiece = max(1, entriesPerPiece)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
    }

    /// The next piece, nil when the document (and its final newline) is complete.
    mutating func nextPiece() -> Data? {
        guard let start = next else { return nil }
        guard let entries = response.sas?.ikeSAs, !entries.isEmpty else {
            next = nil
            return ((try? encoder.encode(response)) ?? Self.fallback) + Data("\n".utf8)
        }
        var piece = Data()
        if !opened {
            opened = true
            // The response with an empty listing ends in `"ike_sas":[]}}`: "sas" is the last key
            // in sorted order, so the entries go where the `[]` is.
            var head = response
            head.sas = SAList(ikeSAs: [])
            guard let empty = try? encoder.encode(head), empty.suffix(4) == Data("[]}}".utf8) else {
                next = nil
                return ((try? encoder.encode(response)) ?? Self.fallback) + Data("\n".utf8)
            }
            piece.append(empty.dropLast(3))   // up to and including "["
        }
        let end = min(start + entriesPerPiece, entries.count)
        for index in start..<end {
            if index > 0 { piece.append(UInt8(ascii: ",")) }
            piece.append((try? encoder.encode(entries[index])) ?? Data("{}".utf8))
        }
        if end == entries.count {
            piece.append(Data("]}}\n".utf8))
            next = nil
        } else {
            next = end
        }
        return piece
    }

    private static let fallback = Data("{\"ok\":false,\"messages\":[]}".utf8)
}
