import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining

/// The checks that keep a valid-looking spec from escaping its output folder or aborting at
/// run time: safe run names, a bounded thread count, a bounded sweep, and an estimate of the
/// memory a run needs against what this machine has.
public enum SpecLimits {
    /// The most runs one spec may expand to: past this a sweep is a typo (10⁶ runs took
    /// minutes to expand before anything ran), and a real one belongs in several specs.
    public static let maxRuns = 10_000
    /// Run ids and names become folder names; 200 bytes leaves room for the lock file's
    /// `.<id>.lock` under the usual 255-byte limit.
    public static let maxNameBytes = 200

    /// Why `name` cannot name a folder inside the output folder, if it cannot: only letters,
    /// digits, `.`, `_`, `-`, not starting with `.` (`.` and `..` would write into the output
    /// folder itself or its parent, `.x.lock` would collide with run x's lock).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if !name.allSatisfy({ ($0.isLetter || $0.isNumber || "._-".contains($0)) && !$0.unicodeScalars.contains { $0.value == 0 } }) {
            return "'\(name)' may only hold letters, digits, '.', '_' and '-' (it names the output folder)"
        }
        if name.hasPrefix(".") { return "'\(name)' may not start with '.': it names a folder inside the output folder ('.' and '..' would write outside it)" }
        if name.utf8.count > maxNameBytes { return "is \(name.utf8.count) bytes long; at most \(maxNameBytes) (it names a folder)" }
        return nil
    }

    /// Whether a run id is one plain folder name (the last guard before a path is built from it).
    public static func isSafeRunID(_ id: String) -> Bool {
        !id.isEmpty && !id.hasPrefix(".") && !id.contains("/") && !id.utf8.contains(0) && id.utf8.count <= maxNameBytes
    }

    /// `compute.threads`: at most a few times the CPUs this process may use (see `CPUBudget`).
    static func threads(_ o: JSONObject?, _ path: String, _ d: SpecDecoder) -> Int {
        let budget = CPUBudget.current
        let n = d.int(o, "threads", path, default: budget.count)
        if n < 1 {
            d.error(JSONLocator.child(path, "threads"), "\(n) is out of range: at least 1 thread")
            return budget.count
        }
        if n > budget.maxThreads {
            d.error(JSONLocator.child(path, "threads"), "\(n) threads is too many: \(budget.limitDescription)")
            return budget.count
        }
        return n
    }

    /// Refuses a spec whose runs cannot fit in this machine's memory, saying how much they need.
    static func checkMemory(_ c: DiTConfig, eval: ExperimentSpec.Eval, guided: Bool, precision: WeightPrecision,
                            threads: Int, trainBatch: Int?, stepCacheBuffers: Int = 0, _ d: SpecDecoder,
                            budget: MemoryBudget = .current) {
        var estimates = [MemoryEstimate.sampling(c, batch: eval.batch, samples: eval.samples, guided: guided,
                                                 precision: precision, threads: threads, stepCacheBuffers: stepCacheBuffers)]
        if let trainBatch { estimates.append(.training(c, batch: trainBatch, threads: threads)) }
        for e in estimates where e.total > Double(budget.bytes) {
            d.error("$.backbone", "needs about \(formatBytes(e.total)) of memory for \(e.scope) (weights \(formatBytes(e.weights)), activations \(formatBytes(e.activations))) but this machine has \(formatBytes(Double(budget.bytes))) (\(budget.explanation)); use a smaller model, input or batch")
            return
        }
    }
}
