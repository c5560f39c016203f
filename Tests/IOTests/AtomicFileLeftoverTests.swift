import DyDiTIO
import XCTest

/// The temporary files of writes killed mid-way are recognised by name and removed, and
/// nothing else is.
final class AtomicFileLeftoverTests: TemporaryDirectoryTestCase {
    func testRemovesOnlyTheTemporaryFilesOfWrites() throws {
        for name in [".metrics.json.tmp-4242-1", ".a.b.tmp-1-22", "metrics.json", ".x.lock", ".c.tmp-", ".d.tmp-1-x", "e.tmp-1-2"] {
            try writeBytes([1], name)
        }
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir, owned: { $0 != "a.b" }), [".metrics.json.tmp-4242-1"])
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir), [".a.b.tmp-1-22"])
        XCTAssertEqual(files(), [".c.tmp-", ".d.tmp-1-x", ".x.lock", "e.tmp-1-2", "metrics.json"])
    }
}
