/// Where each value of a (valid) JSON document starts, by JSON path (`$.sampler.steps`,
/// `$.eval.classes[2]`), so errors found after parsing can still name a line and column.
/// json-c reports positions only for syntax errors; this re-reads the text once (`JSONTextWalk`).
public struct JSONLocator: Sendable {
    public struct Position: Sendable, Equatable {
        public let line: Int
        public let column: Int
        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }
    }

    public private(set) var positions: [String: Position] = [:]

    public init(_ bytes: [UInt8]) {
        var found: [String: Position] = [:]
        bytes.withUnsafeBytes { raw in
            var walk = JSONTextWalk(bytes: raw)
            walk.walk { event in
                if case let .value(path, line, column) = event { found[JSONTextWalk.formatted(path)] = Position(line: line, column: column) }
                return true
            }
        }
        positions = found
    }

    public init(_ text: String) { self.init(Array(text.utf8)) }

    /// The position of `path`, or of its nearest located ancestor.
    public func position(of path: String) -> Position? {
        var p = path
        while true {
            if let found = positions[p] { return found }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            p = String(p[..<cut])
        }
    }

    /// The JSON path of key `key` under `parent`: `$.a.b`, or `$["odd key"]`.
    public static func child(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        return plain ? "\(parent).\(key)" : "\(parent)[\(JSONValue.string(key).serialized())]"
    }

    public static func element(_ parent: String, _ index: Int) -> String { "\(parent)[\(index)]" }
}
