import DyDiTIO

/// Where two resolved specs differ, as spec paths with both values: what the refusal of a
/// run folder holding another spec says, so that nobody has to diff two JSON files by eye.
public enum SpecDifference {
    /// `sampler.steps: 3 → 4`, `eval.timing: (absent) → {"rounds":5}`, in document order; at
    /// most `limit` lines (then "… and N more").
    public static func lines(stored: JSONValue, current: JSONValue, limit: Int = 8) -> [String] {
        var out: [String] = []
        collect(stored, current, path: "", into: &out)
        guard out.count > limit else { return out }
        return Array(out.prefix(limit)) + ["… and \(out.count - limit) more"]
    }

    private static func collect(_ a: JSONValue?, _ b: JSONValue?, path: String, into out: inout [String]) {
        if a == b { return }
        if let oa = a?.objectValue, let ob = b?.objectValue {
            var keys = oa.keys
            for k in ob.keys where !keys.contains(k) { keys.append(k) }
            for k in keys { collect(oa[k], ob[k], path: path.isEmpty ? k : "\(path).\(k)", into: &out) }
            return
        }
        out.append("\(path.isEmpty ? "(the whole spec)" : path): \(show(a)) → \(show(b))")
    }

    private static func show(_ v: JSONValue?) -> String {
        guard let v else { return "(absent)" }
        let text = v.serialized()
        return text.count > 60 ? String(text.prefix(57)) + "…" : text
    }
}
