#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The CPU and memory limits of this process's control group (containers, systemd slices,
/// Slurm's cgroup plugin): a container given 2 CPUs of a 64-core host still sees 64 CPUs
/// online, and 64 threads there run 32 times slower than they should.
///
/// cgroup v2: `cpu.max` ("quota period" or "max period") and `memory.max`, at every level
/// from the process's group up to the root (the smallest wins). cgroup v1: the `cpu`
/// controller's `cpu.cfs_quota_us` / `cpu.cfs_period_us` and `memory`'s
/// `memory.limit_in_bytes`, in the process's group or, inside a container whose namespace
/// hides the path, at the controller's mount point.
public struct CGroupLimits: Equatable, Sendable {
    /// CPUs' worth of run time per period (1.5 = one and a half CPUs); nil: no quota.
    public var cpuQuota: Double?
    /// Bytes of memory the group may use; nil: no limit.
    public var memoryBytes: Int?

    public init(cpuQuota: Double? = nil, memoryBytes: Int? = nil) {
        self.cpuQuota = cpuQuota
        self.memoryBytes = memoryBytes
    }

    /// The limits of the running process.
    public static func current(root: String = "/sys/fs/cgroup", membership: String = "/proc/self/cgroup") -> CGroupLimits {
        guard let text = readSmallText(membership) else { return CGroupLimits() }
        var limits = CGroupLimits()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ","), path = String(fields[2])
            if fields[0] == "0" && controllers.isEmpty {
                // v2: every level from the leaf to the root.
                var dir = path
                while true {
                    let base = root + (dir == "/" ? "" : dir)
                    limits.cpuQuota = smaller(limits.cpuQuota, readSmallText(base + "/cpu.max").flatMap(parseCPUMax))
                    limits.memoryBytes = smaller(limits.memoryBytes, readSmallText(base + "/memory.max").flatMap(parseMemory))
                    guard dir != "/", let slash = dir.lastIndex(of: "/") else { break }
                    dir = slash == dir.startIndex ? "/" : String(dir[..<slash])
                }
            } else if controllers.contains("cpu") {
                for mount in ["\(root)/cpu,cpuacct", "\(root)/cpu", "\(root)/cpuacct,cpu"] {
                    for base in [mount + path, mount] {
                        if let quota = readSmallText(base + "/cpu.cfs_quota_us"), let period = readSmallText(base + "/cpu.cfs_period_us") {
                            limits.cpuQuota = smaller(limits.cpuQuota, parseCFS(quota: quota, period: period))
                        }
                    }
                }
            } else if controllers.contains("memory") {
                for base in ["\(root)/memory\(path)", "\(root)/memory"] {
                    limits.memoryBytes = smaller(limits.memoryBytes, readSmallText(base + "/memory.limit_in_bytes").flatMap(parseMemory))
                }
            }
        }
        return limits
    }

    /// cgroup v2 `cpu.max`: "150000 100000" → 1.5; "max 100000" → nil.
    public static func parseCPUMax(_ text: String) -> Double? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count >= 1, let quota = Double(parts[0]), quota > 0 else { return nil }
        let period = parts.count > 1 ? Double(parts[1]) ?? 100_000 : 100_000
        return period > 0 ? quota / period : nil
    }

    /// cgroup v1 `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us`.
    public static func parseCFS(quota: String, period: String) -> Double? {
        guard let q = Double(quota.trimmingWhitespace), q > 0, let p = Double(period.trimmingWhitespace), p > 0 else { return nil }
        return q / p
    }

    /// `memory.max` ("max": none) or v1 `memory.limit_in_bytes` (a huge page-rounded number
    /// when unlimited).
    public static func parseMemory(_ text: String) -> Int? {
        guard let bytes = Int(text.trimmingWhitespace), bytes > 0, bytes < 1 << 60 else { return nil }
        return bytes
    }

    static func smaller<T: Comparable>(_ a: T?, _ b: T?) -> T? {
        switch (a, b) {
        case let (x?, y?): return min(x, y)
        default: return a ?? b
        }
    }

    /// A small kernel text file (sysfs and procfs report sizes that mean nothing, so read
    /// until the end, up to 64 KiB).
    static func readSmallText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 65536)
        var total = 0
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: bytes[..<total], as: UTF8.self)
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
