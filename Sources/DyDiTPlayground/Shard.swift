import Foundation

/// Which runs of a sweep one process takes: runs `index`, `index + count`, `index + 2·count`, …
/// (`--shard i/n` of `dydit run` and `dydit train`), or, with `--shard auto`, the position of this
/// Slurm array task among the array's tasks.
///
/// Why a mapping and not `SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT`: array ids need not start
/// at 0 or be contiguous (`--array=1-7:2`, `--array=1,3,8-9`), and Slurm exports only the id, the
/// count, the minimum, the maximum and a step (seen on Slurm 22.05: `--array=1,3,8-9` gives
/// COUNT 4, MIN 1, MAX 9, STEP 1). An evenly spaced array is recovered from those; any other
/// array's list is not in the environment, so it is read from `DYDIT_ARRAY_TASKS` (the `--array`
/// expression itself, which `Experiments/slurm/submit.sh` exports) and checked against them.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int
    /// How the shard was chosen, for the log: nil for `i/n`, else e.g. "Slurm array task 8 of 1,3,8-9".
    public let origin: String?

    public init(index: Int, count: Int, origin: String? = nil) {
        self.index = index
        self.count = count
        self.origin = origin
    }

    /// Every run (no `--shard`).
    public static let all = Shard(index: 0, count: 1)

    public var description: String { "\(index)/\(count)" }

    /// Whether the run at `runIndex` (its position in the expanded sweep) belongs to this shard.
    public func contains(runIndex: Int) -> Bool { runIndex % count == index }

    /// Parses `--shard`: nil (every run), `i/n` with 0 ≤ i < n, or `auto` (from the Slurm array
    /// variables in `environment`; every run, with a note in `origin`, outside an array job).
    public static func parse(_ text: String?, environment: [String: String]) throws -> Shard {
        guard let text else { return .all }
        if text == "auto" { return try slurm(environment: environment) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw ShardError("--shard '\(text)': expected i/n with 0 ≤ i < n (e.g. 0/4), or auto inside a Slurm job array")
        }
        return Shard(index: i, count: n)
    }

    /// The shard of this Slurm array task; see the type's comment for the mapping.
    public static func slurm(environment env: [String: String]) throws -> Shard {
        guard env["SLURM_ARRAY_TASK_ID"] != nil else {
            return Shard(index: 0, count: 1, origin: "--shard auto outside a Slurm job array (SLURM_ARRAY_TASK_ID is not set): every run")
        }
        func integer(_ name: String) throws -> Int {
            guard let text = env[name], let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ShardError("--shard auto: \(name) is \(env[name].map { "'\($0)'" } ?? "not set") in this Slurm array task; expected an integer (Slurm sets it for every array task)")
            }
            return value
        }
        let id = try integer("SLURM_ARRAY_TASK_ID")
        let taskCount = try integer("SLURM_ARRAY_TASK_COUNT")
        if let listed = env["DYDIT_ARRAY_TASKS"], !listed.trimmingCharacters(in: .whitespaces).isEmpty {
            let tasks: [Int]
            do { tasks = try SlurmArrayExpression.expand(listed) } catch let error as ShardError {
                throw ShardError("--shard auto: DYDIT_ARRAY_TASKS: \(error.message)")
            }
            guard tasks.count == taskCount else {
                throw ShardError("--shard auto: DYDIT_ARRAY_TASKS='\(listed)' lists \(tasks.count) task(s) but Slurm says this array has \(taskCount) (SLURM_ARRAY_TASK_COUNT); set it to the job's --array expression")
            }
            guard let position = tasks.firstIndex(of: id) else {
                throw ShardError("--shard auto: this task's id \(id) is not in DYDIT_ARRAY_TASKS='\(listed)'; set it to the job's --array expression")
            }
            return Shard(index: position, count: tasks.count, origin: "Slurm array task \(id) of \(listed)")
        }
        let low = try integer("SLURM_ARRAY_TASK_MIN"), high = try integer("SLURM_ARRAY_TASK_MAX")
        let step = max(1, (try? integer("SLURM_ARRAY_TASK_STEP")) ?? 1)
        // Evenly spaced exactly when the count fills min…max at the step.
        guard taskCount >= 1, high >= low, (high - low) % step == 0, (high - low) / step + 1 == taskCount,
              id >= low, id <= high, (id - low) % step == 0 else {
            throw ShardError("""
                --shard auto: this array's \(taskCount) task(s) are not evenly spaced between \(low) and \(high) \
                (step \(step)), so Slurm's variables do not say which of them task \(id) is; export \
                DYDIT_ARRAY_TASKS with the --array expression (Experiments/slurm/submit.sh does), or use \
                an array like 0-\(taskCount - 1)
                """)
        }
        let range = step == 1 ? "\(low)-\(high)" : "\(low)-\(high):\(step)"
        return Shard(index: (id - low) / step, count: taskCount, origin: "Slurm array task \(id) of \(range)")
    }
}

/// Slurm's `--array` syntax: comma-separated ids and ranges `a-b` with an optional step `a-b:s`,
/// and an optional `%limit` (tasks at once) at the end, which does not change the list.
public enum SlurmArrayExpression {
    /// The task ids in ascending order, without duplicates (Slurm keeps a set of ids).
    public static func expand(_ expression: String) throws -> [Int] {
        var text = expression.trimmingCharacters(in: .whitespaces)
        if let percent = text.firstIndex(of: "%") {
            guard Int(text[text.index(after: percent)...]).map({ $0 >= 1 }) == true else {
                throw ShardError("'\(expression)': expected a task limit after '%' (e.g. 0-7%2)")
            }
            text = String(text[..<percent])
        }
        var ids = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
            let step = parts.count == 2 ? Int(parts[1]) : 1
            guard parts.count <= 2, bounds.count <= 2, let step, step >= 1,
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]), low >= 0, high >= low,
                  bounds.count == 2 || parts.count == 1 else {
                throw ShardError("'\(expression)': '\(item)' is not an id, a range a-b or a range with a step a-b:s (Slurm's --array syntax)")
            }
            guard (high - low) / step < 1_000_000 else {
                throw ShardError("'\(expression)': '\(item)' has more than a million tasks")
            }
            for id in stride(from: low, through: high, by: step) { ids.insert(id) }
        }
        return ids.sorted()
    }
}

public struct ShardError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
