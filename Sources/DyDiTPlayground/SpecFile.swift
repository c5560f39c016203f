import DyDiTIO
import Foundation

/// A spec file: its JSON, where each value sits in the text, and its expansion into runs.
public struct SpecFile {
    public let path: String
    public let raw: JSONValue
    let locator: JSONLocator

    /// One run of an experiment: a stable, readable id, the sweep values that made it, and the
    /// decoded spec.
    public struct Run {
        public let index: Int
        public let id: String
        public let overrides: [(path: String, value: JSONValue)]
        public let spec: ExperimentSpec
        /// Valid but doubtful settings of this run (see `SpecDecoder.warn`).
        public var warnings: [SpecIssue] = []
    }

    public static func load(_ path: String) throws -> SpecFile {
        try SpecFile(bytes: try FileReader.read(path), path: path)
    }

    /// A spec from its bytes (`path` names it in errors and resolves its relative paths).
    public init(bytes: [UInt8], path: String) throws {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw SpecErrors(issues: [SpecIssue(file: path, path: "$", position: nil,
                                                message: "is not UTF-8 text (a binary file?); a spec is a JSON text file")])
        }
        // Comments are blanked, not parsed: positions stay those of the file as written.
        let text = try Self.withoutComments(bytes, path: path)
        let raw: JSONValue
        do {
            raw = try text.withUnsafeBytes { try JSONParser.parse($0, path: path) }
        } catch let e as JSONParseError {
            throw SpecErrors(issues: [SpecIssue(file: path, path: e.duplicatePath ?? "$", position: .init(line: e.line, column: e.column), message: e.reason)])
        }
        self.init(path: path, raw: raw, locator: JSONLocator(text))
    }

    /// The spec's bytes with `//` and `/* */` comments blanked (`JSONComments`).
    static func withoutComments(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        do { return try JSONComments.blanked(bytes) } catch let e as JSONComments.Unclosed {
            throw SpecErrors(issues: [SpecIssue(file: path, path: "$", position: .init(line: e.line, column: e.column),
                                                message: "a /* comment is never closed with */")])
        }
    }

    public init(path: String, raw: JSONValue, locator: JSONLocator) {
        self.path = path
        self.raw = raw
        self.locator = locator
    }

    public init(text: String, path: String = "<spec>") throws {
        try self.init(bytes: Array(text.utf8), path: path)
    }

    var baseDirectory: String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// Every run of the spec, in order. All problems of every run are reported together.
    public func expand(checkFiles: Bool = true) throws -> [Run] {
        let d = SpecDecoder(file: path, locator: locator)
        guard case var .object(base) = raw else {
            d.error("$", "is \(raw.typeName), expected an object")
            try d.finish()
            return []
        }
        let sweep = base["sweep"]
        base["sweep"] = nil
        let combos = Self.combinations(sweep, d)
        let names = Self.runNames(sweep, count: combos.count, d)
        try d.finish()
        var runs: [Run] = []
        var seenIssues = Set<String>()
        var issues: [SpecIssue] = []
        let ids = Self.runIDs(combos, name: base["name"]?.stringValue ?? "run", names: names)
        for (i, combo) in combos.enumerated() {
            var json = JSONValue.object(base)
            for o in combo { Self.set(&json, path: o.path, value: o.value) }
            let runDecoder = SpecDecoder(file: path, locator: locator)
            let spec = ExperimentSpec.decode(json, runDecoder, baseDirectory: baseDirectory, checkFiles: checkFiles)
            // A problem at a swept value points at that value in the sweep, and names the run.
            func placed(_ issue: SpecIssue) -> (issue: SpecIssue, swept: Bool) {
                let owner = combo.first { issue.path == "$." + $0.path || issue.path.hasPrefix("$." + $0.path + ".") }
                let position = owner.flatMap { locator.position(of: $0.source) } ?? issue.position
                let prefix = combos.count > 1 ? "run \(ids[i]): " : ""
                return (SpecIssue(file: issue.file, path: issue.path, position: position, message: prefix + issue.message,
                                  got: issue.got, expected: issue.expected, suggestion: issue.suggestion), owner != nil)
            }
            for issue in runDecoder.issues {
                let (adjusted, swept) = placed(issue)
                if seenIssues.insert(issue.description).inserted || swept { issues.append(adjusted) }
            }
            if let spec {
                // A single run is named by its (validated) name, which a sweep may have set.
                let id = combos.count > 1 ? ids[i] : spec.name
                guard SpecLimits.isSafeRunID(id) else {
                    issues.append(SpecIssue(file: path, path: "$.name", position: locator.position(of: "$.name"),
                                            message: "run id '\(id)' is not a plain folder name inside the output folder"))
                    continue
                }
                var run = Run(index: i, id: id, overrides: combo.map { ($0.path, $0.value) }, spec: spec)
                // A warning every run shares stays unnamed, so it is reported once.
                run.warnings = runDecoder.warnings.map { warning in
                    let (adjusted, swept) = placed(warning)
                    return swept ? adjusted : warning
                }
                runs.append(run)
            }
        }
        if !issues.isEmpty { throw SpecErrors(issues: issues) }
        return runs
    }

    /// One swept value: its spec path, value and where it is written in the sweep.
    struct Override {
        let path: String
        let value: JSONValue
        let source: String
    }

    /// grid × zip: every grid combination (keys in order, last varying fastest), each with every
    /// zip row. No sweep: one run without overrides.
    static func combinations(_ sweep: JSONValue?, _ d: SpecDecoder) -> [[Override]] {
        guard let sweep, sweep != .null else { return [[]] }
        let before = d.issues.count
        guard let s = d.object(sweep, "$.sweep", allowed: ["grid", "zip", "names"]) else { return [[]] }
        func lists(_ key: String) -> [(String, [JSONValue], String)] {
            let p = JSONLocator.child("$.sweep", key)
            guard let o = d.object(s[key], p, allowed: nil) else { return [] }
            var out: [(String, [JSONValue], String)] = []
            for (specPath, values) in o {
                let vp = JSONLocator.child(p, specPath)
                if specPath.hasPrefix("sweep") || specPath.isEmpty || specPath.split(separator: ".", omittingEmptySubsequences: false).contains("") {
                    d.error(vp, "'\(specPath)' is not a spec path like \"sampler.steps\"")
                    continue
                }
                guard let a = values.arrayValue, !a.isEmpty else {
                    d.error(vp, "is \(values.typeName) \(values.serialized()), expected a non-empty list of values")
                    continue
                }
                out.append((specPath, a, vp))
            }
            return out
        }
        let grid = lists("grid"), zip = lists("zip")
        if let first = zip.first, let bad = zip.first(where: { $0.1.count != first.1.count }) {
            d.error(bad.2, "has \(bad.1.count) values but '\(first.0)' has \(first.1.count): zip lists must be as long as each other")
        }
        var seen = Set<String>()
        if let dup = (grid.map(\.0) + zip.map(\.0)).first(where: { !seen.insert($0).inserted }) {
            d.error("$.sweep", "'\(dup)' is swept twice")
        }
        if d.issues.count > before { return [[]] }
        // Counted before anything is built: 10⁶ combinations would take minutes and gigabytes.
        var count = 1
        var overflow = false
        for n in grid.map(\.1.count) + (zip.first.map { [$0.1.count] } ?? []) {
            (count, overflow) = count.multipliedReportingOverflow(by: n)
            if overflow || count > SpecLimits.maxRuns { break }
        }
        if overflow || count > SpecLimits.maxRuns {
            let factors = grid.map { "\($0.0) (\($0.1.count))" } + (zip.first.map { ["zip (\($0.1.count) rows)"] } ?? [])
            let total = overflow ? "more than 2⁶³" : "\(count)"
            d.error("$.sweep", "expands to \(total) runs (\(factors.joined(separator: " × "))); at most \(SpecLimits.maxRuns) runs per spec: split the sweep into several specs")
            return [[]]
        }
        var combos: [[Override]] = [[]]
        for (p, values, source) in grid {
            combos = combos.flatMap { c in values.enumerated().map { c + [Override(path: p, value: $1, source: JSONLocator.element(source, $0))] } }
        }
        if let rows = zip.first?.1.count {
            combos = combos.flatMap { c in (0..<rows).map { r in c + zip.map { Override(path: $0.0, value: $0.1[r], source: JSONLocator.element($0.2, r)) } } }
        }
        return combos
    }

    /// `sweep.names`: one name per run, in run order (nil when absent or wrong, the problem
    /// recorded): for sweeps whose swept values make unreadable ids (several objects per row).
    static func runNames(_ sweep: JSONValue?, count: Int, _ d: SpecDecoder) -> [String]? {
        guard let value = sweep?.objectValue?["names"] else { return nil }
        let path = "$.sweep.names"
        let list = value.arrayValue ?? []
        let names = list.compactMap(\.stringValue)
        guard value.arrayValue != nil, names.count == list.count else {
            d.error(path, "is \(value.typeName) \(value.serialized()), expected a list of strings, one name per run")
            return nil
        }
        guard names.count == count else {
            d.error(path, "has \(names.count) names but the sweep expands to \(count) runs: one name per run, in run order")
            return nil
        }
        if let bad = names.first(where: { sanitize(.string($0)).isEmpty }) {
            d.error(path, "name '\(bad)' is empty")
            return nil
        }
        return names
    }

    /// Readable, stable run ids: `NN-name` from `sweep.names`, else `NN-key=value-…` from the
    /// swept values (the last path component names a key unless two swept paths share it), or
    /// the spec name for a single run.
    static func runIDs(_ combos: [[Override]], name: String, names: [String]? = nil) -> [String] {
        guard combos.count > 1 else { return [name] }
        let paths = combos[0].map(\.path)
        let lasts = paths.map { String($0.split(separator: ".").last!) }
        var uses: [String: Int] = [:]
        for last in lasts { uses[last, default: 0] += 1 }
        let keys = paths.indices.map { i in uses[lasts[i]]! > 1 ? paths[i] : lasts[i] }
        let width = String(combos.count - 1).count
        return combos.enumerated().map { i, combo in
            let index = String(repeating: "0", count: width - String(i).count) + String(i)
            let parts = names.map { [sanitize(.string($0[i]))] } ?? zip(keys, combo).map { "\($0)=\(sanitize($1.value))" }
            // The index alone keeps ids unique, so a long id may lose its tail.
            var id = ([index] + parts).joined(separator: "-")
            while id.utf8.count > SpecLimits.maxNameBytes { id.removeLast() }
            return id
        }
    }

    /// A value as part of a folder name: strings and numbers as they are, a file path as its
    /// file's name without the extension (`checkpoints/m-lambda0.7.safetensors` → `m-lambda0.7`),
    /// a plug-in object as its type and options (`random+keep=0.25`), a list as its items joined
    /// by `,`; anything else reduced to safe characters.
    static func sanitize(_ v: JSONValue) -> String {
        var text: String
        if let path = v.stringValue, path.contains("/") || path.hasSuffix(".safetensors") || path.hasSuffix(".json") {
            let file = path.split(separator: "/").last.map(String.init) ?? path
            text = file.hasSuffix(".safetensors") ? String(file.dropLast(".safetensors".count))
                : file.hasSuffix(".json") ? String(file.dropLast(".json".count)) : file
        } else if let o = v.objectValue {
            let type = o["type"]?.stringValue
            let rest = o.pairs.filter { $0.key != "type" }.map { "\($0.key)=\(sanitize($0.value))" }
            text = ([type].compactMap { $0 } + rest).joined(separator: "+")
        } else if let a = v.arrayValue {
            text = a.map(sanitize).joined(separator: ",")
        } else {
            text = v.stringValue ?? v.serialized()
        }
        let mapped = text.map { $0.isLetter || $0.isNumber || "._+=-,".contains($0) ? $0 : "_" }
        return String(mapped.prefix(48))
    }

    /// Sets `path` (dot-separated keys) in `json`, creating objects on the way.
    static func set(_ json: inout JSONValue, path: String, value: JSONValue) {
        let keys = path.split(separator: ".").map(String.init)
        func assign(_ node: inout JSONValue, _ i: Int) {
            var o = node.objectValue ?? JSONObject()
            if i == keys.count - 1 {
                o[keys[i]] = value
            } else {
                var child = o[keys[i]] ?? .object(JSONObject())
                // A plug-in given by name becomes {"type": name} so that options can be added.
                if let name = child.stringValue { child = .object(JSONObject([("type", .string(name))])) }
                assign(&child, i + 1)
                o[keys[i]] = child
            }
            node = .object(o)
        }
        assign(&json, 0)
    }
}
