import Foundation
import XCTest
@testable import IKEDaemon

/// The control socket's answer goes out in pieces of at most `entriesPerPiece` IKE_SAs; joined,
/// they are byte for byte the document JSONEncoder makes of the whole response.
final class OperatorResponseStreamTests: XCTestCase {
    static func listing(_ count: Int) -> SAList {
        let one = OperatorTests.fixture.ikeSAs[0]
        return SAList(ikeSAs: (0..<count).map { index in
            var entry = one
            entry.uniqueID = String(format: "%016x", index)
            entry.name = "gw \"\(index)\"/x"   // quotes and a slash: escaped as JSONEncoder escapes them
            return entry
        })
    }

    func pieces(_ response: OperatorResponse, perPiece: Int) -> [Data] {
        var stream = OperatorResponseStream(response, entriesPerPiece: perPiece)
        var pieces: [Data] = []
        while let piece = stream.nextPiece() { pieces.append(piece) }
        XCTAssertNil(stream.nextPiece(), "done stays done")
        return pieces
    }

    func whole(_ response: OperatorResponse) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(response) + Data("\n".utf8)
    }

    func testThePiecesJoinedAreTheWholeDocument() throws {
        for count in [0, 1, 3, 4, 5, 257] {
            let response = OperatorResponse(ok: true, messages: ["listed"], sas: Self.listing(count))
            let pieces = pieces(response, perPiece: 4)
            let joined = pieces.reduce(Data(), +)
            XCTAssertEqual(String(decoding: joined, as: UTF8.self), String(decoding: try whole(response), as: UTF8.self), "\(count) IKE_SAs")
            XCTAssertEqual(try JSONDecoder().decode(OperatorResponse.self, from: joined), response)
            XCTAssertEqual(pieces.count, max(1, (count + 3) / 4), "\(count) IKE_SAs in pieces of 4")
        }
    }

    func testNoPieceHoldsMoreThanItsShareOfTheListing() throws {
        let response = OperatorResponse(ok: true, sas: Self.listing(1000))
        let pieces = pieces(response, perPiece: 100)
        XCTAssertEqual(pieces.count, 10)
        let entryBytes = try JSONEncoder().encode(Self.listing(1).ikeSAs[0]).count
        for piece in pieces {
            XCTAssertLessThan(piece.count, 101 * (entryBytes + 8), "a piece is about 100 entries, never the document")
        }
    }

    func testAnswersWithoutAListingAreOnePiece() throws {
        for response in [OperatorResponse.failure("no SA named"), OperatorResponse(ok: true, messages: ["done"])] {
            let pieces = pieces(response, perPiece: 4)
            XCTAssertEqual(pieces, [try whole(response)])
        }
    }
}

import NIOCore
import NIOEmbedded

/// The socket side: the pieces go out one per flush, in order, and the connection closes after
/// the last one.
final class OperatorPieceWriterTests: XCTestCase {
    func testTheWriterSendsEveryPieceThenCloses() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let response = OperatorResponse(ok: true, sas: OperatorResponseStreamTests.listing(600))
        PieceWriter(OperatorResponseStream(response, entriesPerPiece: 256), channel).writeNext()
        var pieces: [Data] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { pieces.append(Data(buffer.readableBytesView)) }
        XCTAssertEqual(pieces.count, 3, "600 IKE_SAs in pieces of 256")
        XCTAssertEqual(try JSONDecoder().decode(OperatorResponse.self, from: pieces.reduce(Data(), +)), response)
        XCTAssertFalse(channel.isActive, "closed after the last piece")
    }
}
