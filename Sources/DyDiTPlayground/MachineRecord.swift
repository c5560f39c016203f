import DyDiTIO
import DyDiTKernels
import Foundation

/// The project's version, as `dydit --version` prints it and every run records it.
public enum DyDiTVersion {
    public static let string = "0.1.0"
}

/// What a run's numbers were measured on, recorded in every `metrics.json` (`machine`): times
/// compare only between runs of the same code on the same machine under similar load, and a
/// results folder outlives the memory of where it was made.
public enum MachineRecord {
    /// The record for a run with `isa` and `threads`, the load average read now.
    public static func json(isa: ISA, threads: Int) -> JSONValue {
        let git = Self.git
        return .object(JSONObject([
            ("dydit_version", .string(DyDiTVersion.string)),
            ("git_commit", git.commit.map { .string($0) } ?? .null),
            ("git_dirty", git.dirty.map { .bool($0) } ?? .null),
            ("git_source", .string(git.source)),
            ("executable_sha256", .string(executableDigest)),
            ("cpu", .string(cpuModel)),
            ("cores_online", .int(Int64(ProcessInfo.processInfo.activeProcessorCount))),
            ("isa", .string(isa.rawValue)),
            ("threads", .int(Int64(threads))),
            ("load_average_at_start", loadAverage().map { .array($0.map { .double($0) }) } ?? .null),
            ("hostname", .string(ProcessInfo.processInfo.hostName)),
            ("os", .string(ProcessInfo.processInfo.operatingSystemVersionString)),
        ]))
    }

    /// The running binary's SHA-256 ("unknown" if it cannot be read). `git_commit` is the
    /// checkout's commit when the run starts, which a binary built earlier (or copied aside for
    /// a long chain of runs) need not match; this names the build that measured exactly
    /// (compare with `sha256sum` of the binaries at hand).
    public static let executableDigest: String = (try? FileDigest.sha256("/proc/self/exe").sha256) ?? "unknown"

    /// The 1, 5 and 15 minute load averages (`/proc/loadavg`), nil where there is none.
    public static func loadAverage(_ text: String? = FileReader.readToEnd("/proc/loadavg")) -> [Double]? {
        guard let fields = text?.split(separator: " "), fields.count >= 3 else { return nil }
        let values = fields.prefix(3).compactMap { Double($0) }
        return values.count == 3 ? values : nil
    }

    /// CPUID's brand string, else /proc/cpuinfo's first "model name", else "unknown".
    public static let cpuModel: String = {
        if !CPUFeatures.current.brand.isEmpty { return CPUFeatures.current.brand }
        let line = FileReader.readToEnd("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }()

    /// The source's commit. `DYDIT_GIT_COMMIT` wins (for builds made outside a checkout);
    /// otherwise `git rev-parse HEAD` in the checkout the binary sits in (`.build/…/dydit`),
    /// else in the one it was compiled from. That is the checkout's commit when the run
    /// starts: the binary may be older if it was not rebuilt, so `git_dirty` also says
    /// whether tracked files had uncommitted changes. nil when there is no git or checkout.
    public static let git: (commit: String?, dirty: Bool?, source: String) = {
        if let pinned = ProcessInfo.processInfo.environment["DYDIT_GIT_COMMIT"], !pinned.isEmpty {
            return (pinned, nil, "DYDIT_GIT_COMMIT")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let compiledFrom = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        for start in [URL(fileURLWithPath: executable).deletingLastPathComponent().path, compiledFrom] {
            guard let root = checkout(containing: start),
                  let commit = run(["git", "-C", root, "rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines),
                  commit.count == 40 else { continue }
            let status = run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
            return (commit, status.map { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }, "git in \(root)")
        }
        return (nil, nil, "unknown: no git checkout found beside the binary or where it was compiled")
    }()

    /// The nearest folder at or above `path` with Package.swift and .git (a file in a worktree).
    static func checkout(containing path: String) -> String? {
        var url = URL(fileURLWithPath: path)
        while true {
            if FileReader.exists(url.appendingPathComponent("Package.swift").path) && FileReader.exists(url.appendingPathComponent(".git").path) {
                return url.path
            }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
        }
    }

    /// A command's standard output, or nil if it cannot run or fails.
    private static func run(_ arguments: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
}
