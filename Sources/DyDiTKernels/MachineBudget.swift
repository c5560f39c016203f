import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many CPUs this process may really use, and so the default and the largest sensible
/// thread count. The CPUs online overstate it whenever something narrows the process: an
/// affinity mask (taskset, cpusets), a cgroup CPU quota (containers) or a Slurm allocation.
public struct CPUBudget: Equatable, Sendable {
    /// The CPUs to use by default: the smallest of every limit found, at least 1.
    public let count: Int
    /// Which limits applied, for messages ("2 CPUs (affinity mask; 8 online)").
    public let explanation: String

    /// The budget of this process, read once.
    public static let current = CPUBudget(
        online: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
        affinity: Int(dydit_affinity_cpu_count()),
        quota: CGroupLimits.current().cpuQuota,
        environment: ProcessEnvironment.variables)

    /// - Parameters:
    ///   - affinity: CPUs in the affinity mask (0: unknown).
    ///   - quota: CPUs' worth of cgroup quota; a fraction rounds up (1.5 CPUs can keep two
    ///     threads busy half the time).
    ///   - environment: `SLURM_CPUS_PER_TASK`, when set, is what Slurm granted each task.
    public init(online: Int, affinity: Int, quota: Double?, environment: [String: String]) {
        var count = max(1, online)
        var reasons: [String] = []
        if affinity > 0 && affinity < count {
            count = affinity
            reasons.append("affinity mask")
        }
        if let quota, quota > 0, quota.isFinite, Int(min(quota.rounded(.up), 1e6)) < count {
            count = max(1, Int(quota.rounded(.up)))
            reasons.append("cgroup CPU quota \(quota)")
        }
        if let slurm = environment["SLURM_CPUS_PER_TASK"].flatMap({ Int($0.trimmingWhitespace) }), slurm >= 1, slurm < count {
            count = slurm
            reasons.append("SLURM_CPUS_PER_TASK")
        }
        self.count = count
        explanation = reasons.isEmpty ? "\(count) CPUs online" : "\(count) CPU\(count == 1 ? "" : "s") (\(reasons.joined(separator: ", ")); \(max(1, online)) online)"
    }

    /// The largest thread count accepted: more threads than CPUs only queue behind each other,
    /// and each costs a stack and scratch (4096 threads took 8 GB; 100 000 exhausted the
    /// process limit). A few times the budget leaves room for experiments on oversubscription;
    /// the floor keeps small thread counts valid on one-CPU machines.
    public var maxThreads: Int { max(16, 4 * count) }

    /// "at most 16 threads (this process may use 2 CPUs online)", for errors.
    public var limitDescription: String { "at most \(maxThreads) threads (this process may use \(explanation))" }
}

/// The physical memory this process may use: RAM, or its cgroup's memory limit when lower.
public struct MemoryBudget: Equatable, Sendable {
    public let bytes: Int
    public let explanation: String

    public static let current = MemoryBudget(
        physical: Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE))),
        cgroupLimit: CGroupLimits.current().memoryBytes)

    public init(physical: Int, cgroupLimit: Int?) {
        if let limit = cgroupLimit, limit < physical || physical <= 0 {
            bytes = limit
            explanation = "the cgroup memory limit"
        } else {
            bytes = max(0, physical)
            explanation = "physical memory"
        }
    }
}

/// Bytes for people: "3.2 GiB", "512 MiB", "40000 TiB".
public func formatBytes(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = bytes, unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    if !value.isFinite { return "∞ B" }
    if value >= 10_000 { return "\(Int(min(value, 1e18).rounded())) \(units[unit])" }
    let rounded = (value * 10).rounded() / 10
    return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[unit])" : "\(rounded) \(units[unit])"
}
