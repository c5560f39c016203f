import DyDiTIO
import XCTest

/// SHA-256 against FIPS 180-4's examples, fed whole and in pieces; file digests follow the
/// file's contents.
final class SHA256Tests: TemporaryDirectoryTestCase {
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testPiecesGiveTheDigestOfTheWhole() {
        var rng = RandomGenerator(seed: 5)
        let bytes = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = SHA256.hex(bytes)
        // Cuts before, at and after block and padding boundaries.
        for cuts in [[1], [55, 56, 64], [63, 64, 65, 127, 128], [500]] {
            var h = SHA256()
            var start = 0
            for cut in cuts + [bytes.count] {
                h.update(Array(bytes[start..<cut]))
                start = cut
            }
            XCTAssertEqual(h.finalizeHex(), whole, "\(cuts)")
        }
    }

    func testFileDigestFollowsTheContents() throws {
        try writeBytes(Array("abc".utf8), "f")
        let first = try FileDigest.sha256(path("f"))
        XCTAssertEqual(first.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(first.bytes, 3)
        // Rewritten in place (same inode, same size): the cached digest must not be reused.
        let fd = open(path("f"), O_WRONLY)
        XCTAssertEqual(pwrite(fd, "abd", 3, 0), 3)
        close(fd)
        XCTAssertEqual(try FileDigest.sha256(path("f")).sha256, SHA256.hex(Array("abd".utf8)))
        XCTAssertThrowsError(try FileDigest.sha256(path("missing"))) { XCTAssertTrue("\($0)".contains("missing"), "\($0)") }
    }
}
