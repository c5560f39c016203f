import DyDiTIO

/// What makes two resolved specs the same computation: everything but the top-level
/// `description`, which is prose — rewording it must not orphan a finished run or a training
/// checkpoint (both store the resolved spec they were made by, and refuse another one).
enum SpecIdentity {
    /// `spec` without its description.
    static func comparable(_ spec: JSONValue) -> JSONValue {
        guard case var .object(root) = spec else { return spec }
        root["description"] = nil
        return .object(root)
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool { comparable(a) == comparable(b) }

    /// Two serialized specs (a checkpoint's and the current one), compared as JSON without
    /// their descriptions; as text when either does not parse.
    static func same(serialized a: String, _ b: String) -> Bool {
        if a == b { return true }
        func parse(_ s: String) -> JSONValue? { try? Array(s.utf8).withUnsafeBytes { try JSONParser.parse($0, path: "spec") } }
        guard let x = parse(a), let y = parse(b) else { return false }
        return same(x, y)
    }
}
