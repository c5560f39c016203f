import DyDiTIO
import Foundation
import XCTest

/// The parity vectors made by the official PyTorch code: where they are and which files
/// pair up. Tests read whatever the folder holds, so other folders in the same format (other
/// sizes, other configs) check the project too.
public enum ReferenceVectors {
    /// `DYDIT_REFERENCE_DIR`, else the copy committed in `Tests/Fixtures/reference`.
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["DYDIT_REFERENCE_DIR"], !dir.isEmpty { return dir }
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/reference").path
    }

    /// Cases made in this repository by committed generators (`scripts/reference/`) running
    /// the real libraries, for options the official files do not cover:
    /// `DYDIT_REFERENCE_EXTRA_DIR`, else `Tests/Fixtures/reference-extra`.
    public static var extraDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["DYDIT_REFERENCE_EXTRA_DIR"], !dir.isEmpty { return dir }
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/reference-extra").path
    }

    /// Every `<prefix>*.safetensors` (not a weights or io file) in the reference folder, then
    /// in the extra folder, each folder's sorted by name.
    public static func files(prefix: String) throws -> [String] {
        try [directory, extraDirectory].flatMap { dir -> [String] in
            try FileManager.default.contentsOfDirectory(atPath: dir)
                .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".safetensors") && !$0.hasSuffix(".weights.safetensors")
                    && !$0.hasSuffix(".io.safetensors") }
                .sorted().map { "\(dir)/\($0)" }
        }
    }

    public struct Pair {
        public let name: String
        public let weights: String
        public let io: String
    }

    /// Every `<name>.weights.safetensors` with its `<name>.io.safetensors`, sorted by name.
    /// A weights file without its io file (or the reverse) is an error, not a skip.
    public static func pairs(prefix: String = "") throws -> [Pair] {
        let dir = directory
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        let weights = Set(files.filter { $0.hasSuffix(".weights.safetensors") }.map { String($0.dropLast(".weights.safetensors".count)) })
        let io = Set(files.filter { $0.hasSuffix(".io.safetensors") }.map { String($0.dropLast(".io.safetensors".count)) })
        if let lonely = weights.symmetricDifference(io).sorted().first {
            throw IOError("\(dir)/\(lonely)", "has a weights file or an io file but not both")
        }
        return weights.filter { $0.hasPrefix(prefix) }.sorted().map {
            Pair(name: $0, weights: "\(dir)/\($0).weights.safetensors", io: "\(dir)/\($0).io.safetensors")
        }
    }
}

/// Accounts for every tensor of a reference file: each key is checked against a tolerance,
/// recognised as an input, or listed as belonging to a later capability. A key nobody
/// claims fails the test, so nothing is skipped silently.
public final class ReferenceLedger {
    public let file: SafeTensorsFile
    let label: String
    private var claimed: [String: String] = [:]
    private var lines: [String] = []
    public private(set) var failures = 0

    public init(_ file: SafeTensorsFile, label: String) {
        self.file = file
        self.label = label
    }

    /// max |got − want| / max |want|, recorded and asserted ≤ tolerance.
    @discardableResult
    public func check(_ key: String, _ got: [Float], tolerance: Float,
                      file testFile: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let want = try file.tensor(key)
        guard got.count == want.count else {
            XCTFail("\(label) \(key): produced \(got.count) values, reference has \(want.count) \(want.shape)", file: testFile, line: line)
            failures += 1
            claimed[key] = "count mismatch"
            return .infinity
        }
        let closeness = Closeness(got, want.floats())
        let err = Float(closeness.relative)
        let ok = err <= tolerance
        lines.append(String(format: "%@ %@ %@ max|a-b|/max|b| = %.3e (≤ %.0e)", label, key, ok ? "ok  " : "FAIL", Double(err), Double(tolerance)))
        if !ok {
            failures += 1
            XCTFail("\(label) \(key): \(closeness) (tolerance \(tolerance))", file: testFile, line: line)
        }
        claimed[key] = "checked"
        return err
    }

    /// Keys that are inputs of what was checked.
    public func inputs(_ keys: [String]) {
        for k in keys where file.contains(k) { claimed[k] = "input" }
    }

    /// Keys (exact, or prefixes ending in `/`) that a later capability will check.
    public func notCheckedYet(_ keys: [String], reason: String) {
        for name in file.names where claimed[name] == nil {
            if keys.contains(where: { $0.hasSuffix("/") ? name.hasPrefix($0) : name == $0 }) {
                claimed[name] = "not checked yet: \(reason)"
            }
        }
    }

    /// Keys (exact, or prefixes ending in `/`) that another test checks against this file.
    public func checkedElsewhere(_ keys: [String], by test: String) {
        for name in file.names where claimed[name] == nil {
            if keys.contains(where: { $0.hasSuffix("/") ? name.hasPrefix($0) : name == $0 }) {
                claimed[name] = "checked in \(test)"
            }
        }
    }

    /// Prints the report and fails on any key nobody accounted for.
    public func finish(file testFile: StaticString = #filePath, line: UInt = #line) {
        for l in lines { print(l) }
        var pending: [String: Int] = [:]
        for (_, why) in claimed where why.hasPrefix("not checked yet") || why.hasPrefix("checked in") {
            pending[why, default: 0] += 1
        }
        for (why, n) in pending.sorted(by: { $0.key < $1.key }) { print("\(label) \(n) tensor(s) \(why)") }
        let unknown = file.names.filter { claimed[$0] == nil }
        if !unknown.isEmpty {
            XCTFail("\(label): \(unknown.count) reference tensor(s) nothing checks: \(unknown.joined(separator: ", "))",
                    file: testFile, line: line)
        }
    }
}

public extension SafeTensorsFile {
    /// Every tensor named `<prefix><name>`, as floats by `<name>` (a case file's `weights/…`).
    func floats(under prefix: String) throws -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for name in names where name.hasPrefix(prefix) { out[String(name.dropFirst(prefix.count))] = try tensor(name).floats() }
        return out
    }
}

/// `values` cut into `count` equal consecutive rows (a `[steps, …]` tensor, one row per step).
public func rows<T>(_ values: [T], count: Int) -> [[T]] {
    let n = values.count / max(1, count)
    return (0..<count).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
}
