import DyDiTIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output folder of an experiment: one sub-folder per run, written so that a crash or
/// Ctrl-C never leaves a run that looks finished, a finished run is never redone or
/// overwritten unasked, and two processes never write the same run at once (each run has its
/// own lock, so shards of a sweep can share the folder).
///
/// A run is complete when its `metrics.json` exists (written last, atomically) next to a
/// `spec.json` equal to the run's resolved spec, and the `run_key` it recorded — the spec and
/// the SHA-256 of every file the run read — matches the key computed now. A folder holding a
/// different spec under the same run id is refused; one whose inputs changed is reported as
/// changed (the runner refuses it unless asked to measure again).
public final class RunStore {
    public let directory: String
    private var locks: [String: FileLock] = [:]

    public enum State: Equatable {
        case pending
        case complete
        /// Measured on other input files (or before runs recorded them): what changed.
        case changed(String)
        case conflict(String)
    }

    /// The files a run writes; a run begun again removes them first, so an attempt that fails
    /// never leaves the previous attempt's files beside its own.
    public static let runOutputs = ["metrics.json", "samples.safetensors", "samples.png", "masks.csv", "log.txt"]

    public init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(directory, "cannot create the output folder: \(error.localizedDescription)")
        }
        guard access(directory, W_OK) == 0 else { throw IOError(directory, "the output folder is not writable") }
    }

    public func lockPath(_ id: String) -> String { "\(directory)/.\(id).lock" }

    /// Takes run `id`'s lock (`flock` on `.<id>.lock`) until `unlock` or the process ends.
    public func lock(_ id: String) throws {
        try checkID(id)
        guard locks[id] == nil else { return }
        locks[id] = try FileLock(path: lockPath(id), what: "the run \(runDirectory(id))",
                                 hint: "another dydit is writing this run; wait for it to finish or use another --out")
    }

    public func unlock(_ id: String) {
        locks.removeValue(forKey: id)?.release()
    }

    public func runDirectory(_ id: String) -> String { "\(directory)/\(id)" }

    /// A run id must be one folder name inside `directory` (`..` or `a/b` would write elsewhere).
    func checkID(_ id: String) throws {
        guard SpecLimits.isSafeRunID(id) else {
            throw IOError(directory, "run id '\(id)' is not a plain folder name; runs are written only inside the output folder")
        }
    }

    public func state(of id: String, resolved: JSONValue, key: RunKey) -> State {
        let dir = runDirectory(id)
        guard let saved = try? FileReader.read("\(dir)/spec.json") else { return .pending }
        let savedSpec = try? saved.withUnsafeBytes { try JSONParser.parse($0, path: "\(dir)/spec.json") }
        guard let savedSpec, SpecIdentity.same(savedSpec, resolved) else {
            let diff = savedSpec.map { SpecIdentity.differences(stored: $0, current: resolved) } ?? ["spec.json cannot be read as JSON"]
            return .conflict("holds a different spec under the same run id (stored → this spec):\n    "
                             + diff.joined(separator: "\n    ")
                             + "\n  delete that folder, restore the spec, or write to another --out")
        }
        guard let m = try? FileReader.read("\(dir)/metrics.json") else { return .pending }
        let metrics = try? m.withUnsafeBytes { try JSONParser.parse($0, path: "\(dir)/metrics.json") }
        guard let stored = RunKey(json: metrics?["run_key"]) else {
            // Made before runs recorded their inputs: only a run that reads no file is known.
            if key.inputs.isEmpty { return .complete }
            return .changed("was measured before runs recorded the SHA-256 of their input files, so whether "
                            + key.inputs.map { "\($0.role) \($0.path)" }.joined(separator: ", ") + " changed since is unknown")
        }
        if stored.matches(key) { return .complete }
        return .changed("was measured on other inputs (stored → now):\n    " + key.changes(since: stored).joined(separator: "\n    "))
    }

    /// Prepares the run's folder for a fresh attempt (before any work): removes a previous
    /// attempt's outputs and the temporary files of a killed one, and records the spec.
    /// Call with the run's lock held.
    public func begin(_ id: String, resolved: JSONValue) throws {
        try checkID(id)
        let dir = runDirectory(id)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw IOError(dir, "cannot create the run folder: \(error.localizedDescription)")
        }
        AtomicFile.removeLeftovers(in: dir)
        // metrics.json first: from here on the folder no longer looks complete.
        for name in Self.runOutputs where FileReader.exists("\(dir)/\(name)") {
            if unlink("\(dir)/\(name)") != 0 {
                throw IOError("\(dir)/\(name)", "cannot remove the previous attempt's file: \(String(cString: strerror(errno)))")
            }
        }
        try AtomicFile.write(resolved.serialized(pretty: true) + "\n", to: "\(dir)/spec.json")
    }

    /// Run folders a run began (`spec.json`) that hold no `metrics.json`, by id, with why: the
    /// error its last attempt logged, else that it never finished (running now, killed, or a
    /// shard still to come). `spec` is the run's resolved spec, when readable.
    public func incompleteRuns() -> [(id: String, reason: String, spec: JSONValue?)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
        return names.sorted().compactMap { id in
            let dir = runDirectory(id)
            guard FileReader.exists("\(dir)/spec.json"), !FileReader.exists("\(dir)/metrics.json") else { return nil }
            let spec = (try? FileReader.read("\(dir)/spec.json")).flatMap { s in
                try? s.withUnsafeBytes { try JSONParser.parse($0, path: "\(dir)/spec.json") }
            }
            let log = FileReader.readToEnd("\(dir)/log.txt") ?? ""
            if let error = log.split(separator: "\n").last(where: { $0.hasPrefix("error: ") }) {
                return (id, "failed: " + error.dropFirst("error: ".count), spec)
            }
            return (id, "not finished: no metrics.json and no error logged (running, interrupted, or not yet run)", spec)
        }
    }

    /// Every run folder with a `metrics.json` (any shard), by id.
    public func completedRuns() -> [(id: String, metrics: JSONValue, spec: JSONValue)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
        return names.sorted().compactMap { id in
            let dir = runDirectory(id)
            guard let m = try? FileReader.read("\(dir)/metrics.json"), let s = try? FileReader.read("\(dir)/spec.json"),
                  let metrics = try? m.withUnsafeBytes({ try JSONParser.parse($0, path: "\(dir)/metrics.json") }),
                  let spec = try? s.withUnsafeBytes({ try JSONParser.parse($0, path: "\(dir)/spec.json") }) else { return nil }
            return (id, metrics, spec)
        }
    }
}
