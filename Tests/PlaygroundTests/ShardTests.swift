import DyDiTPlayground
import XCTest

/// `--shard i/n` and `--shard auto`: the Slurm array variables mapped to a shard. The
/// environments are the ones Slurm 22.05 exported on a local one-node cluster
/// (`scripts/slurm_check.sh`), e.g. `--array=1,3,8-9` gave COUNT 4, MIN 1, MAX 9, STEP 1.
final class ShardTests: XCTestCase {
    private func slurm(id: Int, count: Int, min: Int, max: Int, step: Int = 1, tasks: String? = nil) -> [String: String] {
        var env = ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_COUNT": "\(count)", "SLURM_ARRAY_TASK_MIN": "\(min)",
                   "SLURM_ARRAY_TASK_MAX": "\(max)", "SLURM_ARRAY_TASK_STEP": "\(step)", "SLURM_CPUS_PER_TASK": "1"]
        env["DYDIT_ARRAY_TASKS"] = tasks
        return env
    }

    private func error(_ body: () throws -> Shard) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testExplicitShards() throws {
        XCTAssertEqual(try Shard.parse(nil, environment: [:]), .all)
        XCTAssertEqual(try Shard.parse("2/4", environment: [:]), Shard(index: 2, count: 4))
        for bad in ["4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", "/4", ""] {
            XCTAssertTrue(error { try Shard.parse(bad, environment: [:]) }.contains("--shard '\(bad)': expected i/n"), bad)
        }
    }

    /// Zero-based, one-based and stepped arrays: every task gets a distinct shard 0…count-1.
    func testEvenlySpacedArrays() throws {
        for (ids, low, high, step) in [([0, 1, 2, 3], 0, 3, 1), ([1, 2, 3, 4], 1, 4, 1), ([2, 6, 10], 2, 10, 4), ([5], 5, 5, 1)] {
            let shards = try ids.map { try Shard.parse("auto", environment: slurm(id: $0, count: ids.count, min: low, max: high, step: step)) }
            XCTAssertEqual(shards.map(\.index), Array(0..<ids.count), "\(ids)")
            XCTAssertEqual(Set(shards.map(\.count)), [ids.count])
            XCTAssertTrue(shards[0].origin?.contains("Slurm array task \(ids[0])") == true, shards[0].origin ?? "")
        }
    }

    /// A non-contiguous array cannot be told from Slurm's variables: without its list it is
    /// refused with what to do; with `DYDIT_ARRAY_TASKS` each task maps to its position.
    func testUnevenArrayNeedsItsList() throws {
        let message = error { try Shard.parse("auto", environment: slurm(id: 3, count: 4, min: 1, max: 9)) }
        XCTAssertTrue(message.contains("not evenly spaced between 1 and 9") && message.contains("DYDIT_ARRAY_TASKS"), message)
        let shards = try [1, 3, 8, 9].map { try Shard.parse("auto", environment: slurm(id: $0, count: 4, min: 1, max: 9, tasks: "1,3,8-9%2")) }
        XCTAssertEqual(shards.map(\.index), [0, 1, 2, 3])
        XCTAssertEqual(Set(shards.map(\.count)), [4])
        let wrongCount = error { try Shard.parse("auto", environment: slurm(id: 3, count: 4, min: 1, max: 9, tasks: "1,3,8")) }
        XCTAssertTrue(wrongCount.contains("lists 3 task(s) but Slurm says this array has 4"), wrongCount)
        let notListed = error { try Shard.parse("auto", environment: slurm(id: 5, count: 4, min: 1, max: 9, tasks: "1,3,8-9")) }
        XCTAssertTrue(notListed.contains("id 5 is not in DYDIT_ARRAY_TASKS"), notListed)
    }

    func testAutoOutsideAnArrayRunsEverything() throws {
        let shard = try Shard.parse("auto", environment: ["SLURM_JOB_ID": "7"])
        XCTAssertEqual(shard.index, 0)
        XCTAssertEqual(shard.count, 1)
        XCTAssertTrue(shard.origin?.contains("SLURM_ARRAY_TASK_ID is not set") == true)
        var broken = slurm(id: 1, count: 2, min: 0, max: 1)
        broken["SLURM_ARRAY_TASK_COUNT"] = "x"
        XCTAssertTrue(error { try Shard.parse("auto", environment: broken) }.contains("SLURM_ARRAY_TASK_COUNT is 'x'"))
    }

    func testArrayExpressions() throws {
        XCTAssertEqual(try SlurmArrayExpression.expand("0-3"), [0, 1, 2, 3])
        XCTAssertEqual(try SlurmArrayExpression.expand("1-7:2"), [1, 3, 5, 7])
        XCTAssertEqual(try SlurmArrayExpression.expand(" 9,1,3,8-9 "), [1, 3, 8, 9])
        XCTAssertEqual(try SlurmArrayExpression.expand("0-15%4"), Array(0...15))
        for bad in ["", "a", "3-1", "1-", "1:2", "1-4:0", "-2", "0-3%", "0-3%0", "1,,2", "0-2000000000"] {
            XCTAssertThrowsError(try SlurmArrayExpression.expand(bad), bad)
        }
    }
}
