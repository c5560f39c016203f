import DyDiTIO

/// One problem in a spec: where (file, line and column when known, JSON path) and what, with
/// the parts a tool needs as fields: the value found, what is allowed, the likely intended
/// value. `message` is the sentence people read; the fields never have to be parsed out of it.
public struct SpecIssue: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let path: String
    public let position: JSONLocator.Position?
    public let message: String
    /// The offending value or key as JSON text (`"tdx"`, `0`), when one is at fault.
    public let got: String?
    /// What is allowed there (`"one of none, tdw, random, static"`, `"1…1000"`).
    public let expected: String?
    /// The closest allowed value or key, when one is close.
    public let suggestion: String?

    public init(file: String, path: String, position: JSONLocator.Position?, message: String,
                got: String? = nil, expected: String? = nil, suggestion: String? = nil) {
        self.file = file
        self.path = path
        self.position = position
        self.message = message
        self.got = got
        self.expected = expected
        self.suggestion = suggestion
    }

    public var description: String {
        let place = position.map { "\(file):\($0.line):\($0.column)" } ?? file
        return "\(place): \(path): \(message)"
    }

    /// `{"file", "line", "column", "path", "message", "got", "expected", "suggestion"}`, nulls
    /// where unknown: what `dydit validate --json` prints.
    public var json: JSONValue {
        func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("file", .string(file)), ("line", position.map { .int(Int64($0.line)) } ?? .null),
            ("column", position.map { .int(Int64($0.column)) } ?? .null), ("path", .string(path)),
            ("message", .string(message)), ("got", text(got)), ("expected", text(expected)), ("suggestion", text(suggestion)),
        ]))
    }
}

/// All the problems of a spec, reported together.
public struct SpecErrors: Error, CustomStringConvertible, Sendable {
    public let issues: [SpecIssue]
    /// Problems printed; the rest are counted (a file with 10⁵ unknown keys is one mistake).
    static let maxShown = 100

    public init(issues: [SpecIssue]) { self.issues = issues }
    public var description: String {
        let shown = issues.prefix(Self.maxShown).map { "  " + $0.description }
        let more = issues.count > Self.maxShown ? "\n  … and \(issues.count - Self.maxShown) more" : ""
        return "\(issues.count) problem\(issues.count == 1 ? "" : "s") in the spec:\n" + shown.joined(separator: "\n") + more
    }
}

/// Typed reading of a JSON spec that records every problem (with its JSON path and, when the
/// text is known, its line and column) instead of stopping at the first.
public final class SpecDecoder {
    public let file: String
    let locator: JSONLocator?
    public private(set) var issues: [SpecIssue] = []
    /// Valid but probably not what the author meant: reported, never fatal.
    public private(set) var warnings: [SpecIssue] = []

    /// Unknown keys of one object reported one by one.
    static let maxUnknownKeys = 20

    public init(file: String, locator: JSONLocator?) {
        self.file = file
        self.locator = locator
    }

    public func error(_ path: String, _ message: String, got: String? = nil, expected: String? = nil, suggestion: String? = nil) {
        issues.append(SpecIssue(file: file, path: path, position: locator?.position(of: path), message: message,
                                got: got, expected: expected, suggestion: suggestion))
    }

    /// A value of the wrong JSON type.
    func typeError(_ path: String, _ v: JSONValue, expected: String) {
        error(path, "is \(v.typeName) \(v.serialized()), expected \(expected)", got: v.serialized(), expected: expected)
    }

    /// A value outside a list of names, with the closest one suggested.
    func notAllowed(_ path: String, _ v: JSONValue, _ allowed: [String]) {
        let suggestion = v.stringValue.flatMap { closest(to: $0, in: allowed) }
        let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
        let shown = v.stringValue.map { "'\($0)'" } ?? v.serialized()
        error(path, "\(shown) is not allowed\(hint); allowed: \(allowed.joined(separator: ", "))",
              got: v.serialized(), expected: "one of \(allowed.joined(separator: ", "))", suggestion: suggestion)
    }

    public func warn(_ path: String, _ message: String) {
        warnings.append(SpecIssue(file: file, path: path, position: locator?.position(of: path), message: message))
    }

    /// Throws every recorded problem at once.
    public func finish() throws {
        if !issues.isEmpty { throw SpecErrors(issues: issues) }
    }

    /// The object at `path`, checking its keys against `allowed` (unknown keys are errors with a
    /// suggestion). nil (with an error) when it is not an object.
    /// nil `allowed` accepts any key.
    public func object(_ value: JSONValue?, _ path: String, allowed: [String]?) -> JSONObject? {
        guard let value else { return JSONObject() }
        guard case let .object(o) = value else {
            typeError(path, value, expected: "an object")
            return nil
        }
        guard let allowed else { return o }
        let known = Set(allowed)
        let unknown = o.keys.filter { !known.contains($0) }
        // Each of the first few gets its own line and suggestion; 10⁵ more are one line.
        for key in unknown.prefix(Self.maxUnknownKeys) {
            let suggestion = closest(to: key, in: allowed)
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            error(JSONLocator.child(path, key), "unknown key '\(key)'\(hint); allowed: \(allowed.joined(separator: ", "))",
                  got: JSONValue.string(key).serialized(), expected: "one of \(allowed.joined(separator: ", "))", suggestion: suggestion)
        }
        if unknown.count > Self.maxUnknownKeys {
            error(path, "\(unknown.count - Self.maxUnknownKeys) more unknown keys besides those reported; allowed: \(allowed.joined(separator: ", "))")
        }
        return o
    }

    public func string(_ o: JSONObject?, _ key: String, _ path: String, default d: String, allowed: [String]? = nil) -> String {
        guard let v = o?[key], v != .null else { return d }
        let p = JSONLocator.child(path, key)
        guard let s = v.stringValue else {
            typeError(p, v, expected: "a string")
            return d
        }
        if let allowed, !allowed.contains(s) {
            notAllowed(p, v, allowed)
            return d
        }
        return s
    }

    public func optionalString(_ o: JSONObject?, _ key: String, _ path: String) -> String? {
        guard let v = o?[key], v != .null else { return nil }
        guard let s = v.stringValue else {
            typeError(JSONLocator.child(path, key), v, expected: "a string or null")
            return nil
        }
        return s
    }

    public func int(_ o: JSONObject?, _ key: String, _ path: String, default d: Int, range: ClosedRange<Int>? = nil) -> Int {
        guard let v = o?[key], v != .null else { return d }
        let p = JSONLocator.child(path, key)
        guard let i = v.intValue, i >= Int64(Int32.min), i <= Int64(Int32.max) else {
            typeError(p, v, expected: "an integer")
            return d
        }
        if let range, !range.contains(Int(i)) {
            let allowed = range.upperBound == .max ? "\(range.lowerBound) or more" : "\(range.lowerBound)…\(range.upperBound)"
            error(p, "\(i) is out of range; allowed: \(allowed)", got: "\(i)", expected: allowed)
            return d
        }
        return Int(i)
    }

    public func double(_ o: JSONObject?, _ key: String, _ path: String, default d: Double,
                       check: ((Double) -> Bool, String)? = nil) -> Double {
        guard let v = o?[key], v != .null else { return d }
        let p = JSONLocator.child(path, key)
        guard let x = v.doubleValue, x.isFinite else {
            typeError(p, v, expected: "a number")
            return d
        }
        if let (ok, allowed) = check, !ok(x) {
            error(p, "\(v.serialized()) is not allowed; allowed: \(allowed)", got: v.serialized(), expected: allowed)
            return d
        }
        return x
    }

    public func bool(_ o: JSONObject?, _ key: String, _ path: String, default d: Bool) -> Bool {
        guard let v = o?[key], v != .null else { return d }
        guard let b = v.boolValue else {
            typeError(JSONLocator.child(path, key), v, expected: "true or false")
            return d
        }
        return b
    }

    public func intArray(_ o: JSONObject?, _ key: String, _ path: String, default d: [Int]?) -> [Int]? {
        guard let v = o?[key], v != .null else { return d }
        let p = JSONLocator.child(path, key)
        guard let a = v.arrayValue else {
            typeError(p, v, expected: "a list of integers")
            return d
        }
        var out: [Int] = []
        for (i, e) in a.enumerated() {
            guard let x = e.intValue else {
                typeError(JSONLocator.element(p, i), e, expected: "an integer")
                continue
            }
            out.append(Int(x))
        }
        return out
    }

    public func stringArray(_ o: JSONObject?, _ key: String, _ path: String, default d: [String], allowed: [String]) -> [String] {
        guard let v = o?[key], v != .null else { return d }
        let p = JSONLocator.child(path, key)
        guard let a = v.arrayValue else {
            typeError(p, v, expected: "a list of strings")
            return d
        }
        var out: [String] = []
        for (i, e) in a.enumerated() {
            guard let s = e.stringValue, allowed.contains(s) else {
                notAllowed(JSONLocator.element(p, i), e, allowed)
                continue
            }
            out.append(s)
        }
        return out
    }
}
