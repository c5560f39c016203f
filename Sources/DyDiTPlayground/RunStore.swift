import DyDiTIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output folder of an experiment: one sub-folder per run, written so that a crash or
/// Ctrl-C never leaves a run that looks finished, a finished run is never redone or
/// overwritten, and two processes never write the same run at once (each run has its own
/// lock, so shards of a sweep can share the folder).
///
/// A run is complete when its `metrics.json` exists (written last, atomically) next to a
/// `spec.json` equal to the run's resolved spec. A folder holding a different spec under the
/// same run id is refused.
public final class RunStore {
    public let directory: String
    private var locks: [String: Int32] = [:]

    public enum State: Equatable {
        case pending
        case complete
        case conflict(String)
    }

    public init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(directory, "cannot create the output folder: \(error.localizedDescription)")
        }
        guard access(directory, W_OK) == 0 else { throw IOError(directory, "the output folder is not writable") }
    }

    deinit { for id in Array(locks.keys) { unlock(id) } }

    public func lockPath(_ id: String) -> String { "\(directory)/.\(id).lock" }

    /// Takes run `id`'s lock (a file created exclusively, holding our pid). A lock left by a
    /// process that no longer runs is taken over.
    public func lock(_ id: String) throws {
        try checkID(id)
        let path = lockPath(id)
        for _ in 0..<2 {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let text = "\(getpid())\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
                locks[id] = fd
                return
            }
            guard errno == EEXIST else { throw IOError(path, "cannot create the lock: \(String(cString: strerror(errno)))") }
            let owner = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let owner, owner != getpid(), kill(owner, 0) == 0 || errno == EPERM {
                throw IOError(runDirectory(id), "another dydit process (pid \(owner)) is writing this run; wait for it or use another --out")
            }
            unlink(path)
        }
        throw IOError(path, "cannot take the lock")
    }

    public func unlock(_ id: String) {
        if let fd = locks.removeValue(forKey: id) {
            close(fd)
            unlink(lockPath(id))
        }
    }

    public func runDirectory(_ id: String) -> String { "\(directory)/\(id)" }

    /// A run id must be one folder name inside `directory` (`..` or `a/b` would write elsewhere).
    func checkID(_ id: String) throws {
        guard SpecLimits.isSafeRunID(id) else {
            throw IOError(directory, "run id '\(id)' is not a plain folder name; runs are written only inside the output folder")
        }
    }

    public func state(of id: String, resolved: JSONValue) -> State {
        let dir = runDirectory(id)
        guard let saved = try? FileReader.read("\(dir)/spec.json") else { return .pending }
        let savedSpec = try? saved.withUnsafeBytes { try JSONParser.parse($0, path: "\(dir)/spec.json") }
        guard savedSpec == resolved else {
            return .conflict("\(dir) holds a different spec under the same run id; delete that folder or write to another --out")
        }
        return FileReader.exists("\(dir)/metrics.json") ? .complete : .pending
    }

    /// Creates the run's folder and records its spec (before any work).
    public func begin(_ id: String, resolved: JSONValue) throws {
        try checkID(id)
        let dir = runDirectory(id)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw IOError(dir, "cannot create the run folder: \(error.localizedDescription)")
        }
        try AtomicFile.write(resolved.serialized(pretty: true) + "\n", to: "\(dir)/spec.json")
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
