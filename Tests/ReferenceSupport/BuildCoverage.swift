import Foundation
import XCTest

/// What the CPU runs according to the operating system (`/proc/cpuinfo`'s flags), read
/// without the project's CPUID code: the kernel builds and int8 tiles that tests must have
/// run. A CPUID bug that hid AVX-512 would otherwise shrink every test loop silently.
public enum CPUReport {
    /// The flags of the first processor, or nil where `/proc/cpuinfo` does not exist.
    public static let flags: Set<String>? = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return nil
    }()

    static func has(_ names: String...) -> Bool { flags.map { f in names.allSatisfy(f.contains) } ?? false }

    /// Kernel builds (`ISA` raw values) the CPU runs, as the build flags in Package.swift need them.
    public static var kernelBuilds: [String] {
        #if DYDIT_PORTABLE_ONLY
        // Built without the x86 kernels (a non-x86 host, or DYDIT_PORTABLE_ONLY=1 on x86):
        // whatever the CPU has, the portable build is the only one there is to run.
        return ["portable"]
        #else
        var builds = ["portable"]
        if has("avx2", "fma", "f16c") { builds.append("avx2") }
        if has("avx512f", "avx512bw", "avx512vl", "avx512dq", "fma", "f16c") { builds.append("avx512") }
        return builds
        #endif
    }

    /// int8 (build + tile) pairs the CPU runs: each build's own tile, the AVX-512 build with
    /// the AVX2 tile (an AVX-512 CPU without VNNI), and VNNI where the CPU has it.
    public static var int8Pairs: [String] {
        var pairs = ["portable+portable"]
        if kernelBuilds.contains("avx2") { pairs.append("avx2+avx2") }
        if kernelBuilds.contains("avx512") {
            pairs.append("avx512+avx2")
            if has("avx512_vnni") { pairs.append("avx512+vnni") }
        }
        return pairs
    }
}

/// Records the kernel builds one test ran and, at `finish`, prints them and fails when the
/// CPU reports a build (or int8 tile) the test did not run: coverage is checked, not assumed.
public struct BuildCoverage {
    let test: String
    let int8: Bool
    var builds: [String] = []

    /// - Parameter int8: record (build + int8 tile) pairs instead of builds.
    public init(_ test: String, int8: Bool = false) {
        self.test = test
        self.int8 = int8
    }

    public mutating func ran(_ build: String, int8Path: String? = nil) {
        let name = int8Path.map { "\(build)+\($0)" } ?? build
        if !builds.contains(name) { builds.append(name) }
    }

    public func finish(file: StaticString = #filePath, line: UInt = #line) {
        guard CPUReport.flags != nil else {
            print("\(test) ran kernel builds: \(builds.joined(separator: ", ")) (no /proc/cpuinfo: coverage not checked)")
            return
        }
        let wanted = int8 ? CPUReport.int8Pairs : CPUReport.kernelBuilds
        print("\(test) ran \(int8 ? "int8 build+tile pairs" : "kernel builds"): \(builds.joined(separator: ", ")) (CPU reports \(wanted.joined(separator: ", ")))")
        let missing = wanted.filter { !builds.contains($0) }
        if !missing.isEmpty {
            XCTFail("\(test): the CPU runs \(missing.joined(separator: ", ")) but the test did not run \(missing.count == 1 ? "it" : "them")",
                    file: file, line: line)
        }
    }
}
