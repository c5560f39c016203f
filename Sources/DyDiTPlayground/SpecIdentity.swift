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
        guard let x = parse(a), let y = parse(b) else { return false }
        return same(x, y)
    }

    /// Where two serialized specs differ (`SpecDifference`, the description left out): what a
    /// refused resume tells the user to restore, instead of two whole specs to compare by eye.
    /// Nil when either does not parse.
    static func differences(stored a: String, current b: String) -> [String]? {
        guard let x = parse(a), let y = parse(b) else { return nil }
        return differences(stored: x, current: y)
    }

    /// Where two parsed specs differ, the description left out (it is not part of the identity,
    /// so listing it would ask the user to restore prose that does not matter).
    static func differences(stored a: JSONValue, current b: JSONValue) -> [String] {
        SpecDifference.lines(stored: comparable(a), current: comparable(b))
    }

    private static func parse(_ s: String) -> JSONValue? {
        try? Array(s.utf8).withUnsafeBytes { try JSONParser.parse($0, path: "spec") }
    }

    /// The message of a refused resume: what differs, and what to do.
    static func refusal(stored: String, current: String) -> String {
        let head = "was made by a different spec (only train.steps and the description may change between resumes)"
        let tail = "restore the spec, pass --restart to start over, or set another output.dir"
        guard let lines = differences(stored: stored, current: current), !lines.isEmpty else {
            return "\(head):\n  stored:  \(stored)\n  current: \(current)\n\(tail)"
        }
        return "\(head); in the checkpoint → now:\n" + lines.map { "  " + $0 }.joined(separator: "\n") + "\n\(tail)"
    }
}
