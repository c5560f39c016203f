import DyDiTKernels
import Foundation
import XCTest

/// The default thread count follows what the process may use (affinity, cgroup quota,
/// Slurm), and thread counts are bounded (issue 13 §3).
final class MachineBudgetTests: XCTestCase {
    func testTheSmallestLimitWins() {
        XCTAssertEqual(CPUBudget(online: 64, affinity: 0, quota: nil, environment: [:]).count, 64)
        XCTAssertEqual(CPUBudget(online: 64, affinity: 8, quota: nil, environment: [:]).count, 8)
        let quota = CPUBudget(online: 64, affinity: 8, quota: 1.5, environment: [:])
        XCTAssertEqual(quota.count, 2)
        XCTAssertTrue(quota.explanation.contains("cgroup CPU quota 1.5") && quota.explanation.contains("64 online"), quota.explanation)
        let slurm = CPUBudget(online: 64, affinity: 8, quota: 4, environment: ["SLURM_CPUS_PER_TASK": "3"])
        XCTAssertEqual(slurm.count, 3)
        XCTAssertTrue(slurm.explanation.contains("SLURM_CPUS_PER_TASK"), slurm.explanation)
        XCTAssertEqual(CPUBudget(online: 4, affinity: 0, quota: 0.2, environment: ["SLURM_CPUS_PER_TASK": "junk"]).count, 1)
        XCTAssertEqual(CPUBudget(online: 2, affinity: 0, quota: nil, environment: [:]).maxThreads, 16)
        XCTAssertEqual(CPUBudget(online: 64, affinity: 0, quota: nil, environment: [:]).maxThreads, 256)
    }

    func testCGroupFilesAreParsed() {
        XCTAssertEqual(CGroupLimits.parseCPUMax("150000 100000\n"), 1.5)
        XCTAssertNil(CGroupLimits.parseCPUMax("max 100000\n"))
        XCTAssertEqual(CGroupLimits.parseCFS(quota: "200000\n", period: "100000\n"), 2)
        XCTAssertNil(CGroupLimits.parseCFS(quota: "-1\n", period: "100000\n"))
        XCTAssertEqual(CGroupLimits.parseMemory("1073741824\n"), 1 << 30)
        XCTAssertNil(CGroupLimits.parseMemory("max\n"))
        XCTAssertNil(CGroupLimits.parseMemory("9223372036854771712\n"), "v1's 'unlimited'")
    }

    /// A fake /sys/fs/cgroup: v2 limits are read at every level (the smallest wins), v1 in the
    /// controller's folder.
    func testCGroupHierarchiesAreWalked() throws {
        let root = NSTemporaryDirectory() + "dydit-cgroup-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: (root + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        try write("/self-v2", "0::/user.slice/job\n")
        try write("/user.slice/cpu.max", "300000 100000\n")
        try write("/user.slice/job/cpu.max", "max 100000\n")
        try write("/user.slice/job/memory.max", "2147483648\n")
        XCTAssertEqual(CGroupLimits.current(root: root, membership: root + "/self-v2"), CGroupLimits(cpuQuota: 3, memoryBytes: 1 << 31))
        try write("/self-v1", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
        try write("/cpu,cpuacct/cpu.cfs_quota_us", "50000\n")
        try write("/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        try write("/memory/memory.limit_in_bytes", "9223372036854771712\n")
        XCTAssertEqual(CGroupLimits.current(root: root, membership: root + "/self-v1"), CGroupLimits(cpuQuota: 0.5, memoryBytes: nil))
        XCTAssertEqual(CGroupLimits.current(root: root, membership: root + "/missing"), CGroupLimits())
    }

    func testMemoryBudget() {
        XCTAssertEqual(MemoryBudget(physical: 8 << 30, cgroupLimit: 1 << 30).bytes, 1 << 30)
        XCTAssertEqual(MemoryBudget(physical: 8 << 30, cgroupLimit: nil).explanation, "physical memory")
        XCTAssertEqual(formatBytes(1536 * 1024 * 1024), "1.5 GiB")
        XCTAssertEqual(formatBytes(512), "512 B")
        XCTAssertGreaterThan(MemoryBudget.current.bytes, 0)
    }

    func testThreadCountIsBounded() {
        XCTAssertThrowsError(try ComputeContext(threads: 100_000)) { error in
            XCTAssertTrue("\(error)".contains("at most \(CPUBudget.current.maxThreads)"), "\(error)")
        }
        XCTAssertGreaterThanOrEqual(CPUBudget.current.count, 1)
        XCTAssertNoThrow(try ComputeContext(threads: CPUBudget.current.maxThreads))
    }
}
