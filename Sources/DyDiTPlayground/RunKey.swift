import DyDiTIO

/// What a run's results depend on: its resolved spec and the contents of every file it reads
/// (weights, static masks, held-out data). Runs used to be keyed on the spec alone, so after
/// new weights were written under the same path, `dydit run` kept showing the old weights'
/// numbers as complete. The key is stored in the run's `metrics.json` (`run_key`, written
/// with the metrics, atomically) and a run is complete only while the key still matches.
public struct RunKey: Equatable, Sendable {
    /// One file a run reads: what it is for (a spec path such as `backbone.checkpoint`), where
    /// it was read, and its contents' SHA-256.
    public struct Input: Equatable, Sendable {
        public let role: String
        public let path: String
        public let sha256: String
        public let bytes: Int64
    }

    /// SHA-256 of the resolved spec without its description (`SpecIdentity`), serialized.
    public let specSHA256: String
    /// SHA-256 of the whole resolved spec, description included: what keys recorded before
    /// descriptions were left out hold, so those runs still match while their spec is unchanged.
    let fullSpecSHA256: String
    public let inputs: [Input]

    /// Hashes `files` (role, path) for `resolved`. Errors name the file that cannot be read.
    public init(resolved: JSONValue, files: [(role: String, path: String)]) throws {
        specSHA256 = SHA256.hex(Array(SpecIdentity.comparable(resolved).serialized().utf8))
        fullSpecSHA256 = SHA256.hex(Array(resolved.serialized().utf8))
        inputs = try files.map { file in
            let d = try FileDigest.sha256(file.path)
            return Input(role: file.role, path: file.path, sha256: d.sha256, bytes: d.bytes)
        }
    }

    init(specSHA256: String, inputs: [Input]) {
        self.specSHA256 = specSHA256
        fullSpecSHA256 = specSHA256
        self.inputs = inputs
    }

    /// One hash of the whole key. Paths are left out: the same bytes moved elsewhere (another
    /// working folder, an absolute path instead of a relative one) give the same results.
    public var digest: String { Self.digest(spec: specSHA256, inputs) }

    static func digest(spec: String, _ inputs: [Input]) -> String {
        SHA256.hex(Array((["spec \(spec)"] + inputs.map { "\($0.role) \($0.sha256)" }).joined(separator: "\n").utf8))
    }

    public var json: JSONValue {
        .object(JSONObject([
            ("digest", .string(digest)),
            ("spec_sha256", .string(specSHA256)),
            ("inputs", .array(inputs.map { i in
                .object(JSONObject([("role", .string(i.role)), ("path", .string(i.path)), ("sha256", .string(i.sha256)),
                                    ("bytes", .int(i.bytes))]))
            })),
        ]))
    }

    /// The same key as recorded: the spec hash and the inputs.
    public static func == (a: RunKey, b: RunKey) -> Bool { a.specSHA256 == b.specSHA256 && a.inputs == b.inputs }

    /// The key a `metrics.json` recorded, or nil when it has none (or a damaged one).
    public init?(json: JSONValue?) {
        guard let json, let spec = json["spec_sha256"]?.stringValue, let list = json["inputs"]?.arrayValue else { return nil }
        var inputs: [Input] = []
        for item in list {
            guard let role = item["role"]?.stringValue, let path = item["path"]?.stringValue, let sha = item["sha256"]?.stringValue,
                  let bytes = item["bytes"]?.intValue else { return nil }
            inputs.append(Input(role: role, path: path, sha256: sha, bytes: Int64(bytes)))
        }
        self.init(specSHA256: spec, inputs: inputs)
    }

    /// Equal keys up to where the files were read (and the spec's description), either way
    /// round: either key may be one recorded with the description in its spec hash.
    public func matches(_ other: RunKey) -> Bool {
        let mine = Set([specSHA256, fullSpecSHA256].map { Self.digest(spec: $0, inputs) })
        return !mine.isDisjoint(with: [other.specSHA256, other.fullSpecSHA256].map { Self.digest(spec: $0, other.inputs) })
    }

    /// What differs from `stored`, one line each, for people: the file, and the old and new
    /// hashes' first 12 digits.
    public func changes(since stored: RunKey) -> [String] {
        func short(_ s: String) -> String { String(s.prefix(12)) }
        var lines: [String] = []
        if Set([specSHA256, fullSpecSHA256]).isDisjoint(with: [stored.specSHA256, stored.fullSpecSHA256]) {
            lines.append("the resolved spec (sha256 \(short(stored.specSHA256))… → \(short(specSHA256))…)")
        }
        for input in inputs {
            guard let old = stored.inputs.first(where: { $0.role == input.role }) else {
                lines.append("\(input.role) \(input.path): not read by the stored run (now sha256 \(short(input.sha256))…)")
                continue
            }
            if old.sha256 != input.sha256 {
                let moved = old.path == input.path ? "" : " (was read from \(old.path))"
                lines.append("\(input.role) \(input.path)\(moved): sha256 \(short(old.sha256))… (\(old.bytes) bytes) → \(short(input.sha256))… (\(input.bytes) bytes)")
            }
        }
        for old in stored.inputs where !inputs.contains(where: { $0.role == old.role }) {
            lines.append("\(old.role) \(old.path): read by the stored run, not by this spec")
        }
        return lines
    }
}
