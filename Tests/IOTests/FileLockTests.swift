import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `flock` locks: one exclusive holder at a time, across threads and processes; readers share;
/// a lock file left by a killed holder (or holding any stale text) never blocks.
final class FileLockTests: TemporaryDirectoryTestCase {
    func lock(_ name: String, _ mode: FileLock.Mode = .exclusive) throws -> FileLock {
        try FileLock(path: path(name), mode: mode, what: "the test's \(name)", hint: "try later")
    }

    /// Whether the kernel lists lock holders (Linux's /proc/locks), which the messages name.
    var procLocks: Bool { FileManager.default.fileExists(atPath: "/proc/locks") }

    func testOneExclusiveHolderAndSharedReaders() throws {
        let a = try lock("x")
        XCTAssertThrowsError(try lock("x")) { error in
            // What is locked, by whom (the kernel knows: this very process), what to do.
            let who = procLocks ? "another process (pid \(getpid()))" : "another process"
            XCTAssertTrue("\(error)".contains("\(path("x")): \(who) is using the test's x; try later"), "\(error)")
        }
        XCTAssertThrowsError(try lock("x", .shared))
        a.release()
        let r1 = try lock("x", .shared), r2 = try lock("x", .shared)
        XCTAssertThrowsError(try lock("x"), "readers keep a writer out")
        r1.release()
        r2.release()
        XCTAssertNoThrow(try lock("x"))
    }

    func testRacingThreadsAdmitExactlyOne() throws {
        for trial in 0..<60 {
            let name = "race-\(trial)"
            let counter = NSLock()
            var held: [FileLock] = []
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                if let l = try? FileLock(path: path(name), what: name, hint: "") {
                    counter.lock()
                    held.append(l)
                    counter.unlock()
                }
            }
            XCTAssertEqual(held.count, 1, "trial \(trial)")
        }
    }

    func testALockLeftByAKilledProcessDoesNotBlock() throws {
        // Stale text of the old lock files: a live pid (1), an empty file.
        for text in ["1\n", ""] {
            try writeBytes(Array(text.utf8), "stale")
            XCTAssertNoThrow(try lock("stale").release(), "lock file holding '\(text)'")
        }
        let holder = try LockHolder(path: path("held"))
        XCTAssertThrowsError(try lock("held")) { XCTAssertTrue(!self.procLocks || "\($0)".contains("pid \(holder.pid)"), "\($0)") }
        holder.kill()
        XCTAssertNoThrow(try lock("held"), "the kernel dropped the killed holder's lock")
    }
}
