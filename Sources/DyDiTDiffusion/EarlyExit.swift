import DyDiTIO
import DyDiTModels

/// Sampling with an early-exit schedule (`EarlyExitSchedule`): at each step only the first
/// `depths[i]` blocks run for the step's timestep interval i; the rest are skipped (nothing is
/// cached or added in their place: the final layer reads the last block that ran). ASE's
/// sampling forward (Moon et al. 2024; `taehong-moon/ee-diffusion` dbe38d3,
/// `DiT/drop_scheduler.py`, `drop_scheduler` with `is_sampling`). Meant for a
/// model fine-tuned to the same schedule (`train.early_exit`); on a model that was not, it
/// shows what the blocks it drops were doing.
public struct EarlyExitPolicy: StepCachePolicy {
    public let schedule: EarlyExitSchedule
    public var name: String { "early-exit (boundaries \(schedule.boundaries), depths \(schedule.depths))" }

    public init(schedule: EarlyExitSchedule) { self.schedule = schedule }

    public func buffers(depth: Int) -> Int { 0 }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession {
        throw SamplerError("early-exit decides by timestep: the sampling loop passes them")
    }

    public func session(timesteps: [Double], depth: Int) throws -> StepCacheSession {
        if let problem = schedule.problem(depth: depth) { throw SamplerError("early-exit: \(problem)") }
        return Session(blocks: timesteps.map { schedule.blocks(at: $0) }, depth: depth)
    }

    final class Session: StepCacheSession {
        let blocks: [Int], depth: Int
        init(blocks: [Int], depth: Int) { (self.blocks, self.depth) = (blocks, depth) }
        func plan(step k: Int) -> StepCachePlan { blocks[k] < depth ? .skipBlocks(blocks[k]..<depth) : .compute }
    }
}

public enum EarlyExitPlugin: StepCachePlugin {
    public static let name = "early-exit"
    public static let summary = "early exit (ASE-style adaptive depth): in timestep interval i only the first depths[i] blocks run; for a model fine-tuned with train.early_exit (caches nothing)"
    public static let options = [
        PluginOption("boundaries", .array([.int(500)]), "ascending timesteps that cut [0, 1000) into intervals"),
        PluginOption("depths", .null, "blocks run in each interval, one more than the boundaries, noisiest last (e.g. [6, 3]); required"),
    ]

    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? {
        EarlyExitPolicy(schedule: try schedule(options))
    }

    /// The schedule of `boundaries` and `depths` (integer lists); the model's depth is checked
    /// when sampling starts.
    public static func schedule(_ options: JSONObject) throws -> EarlyExitSchedule {
        func integers(_ key: String, _ fallback: [JSONValue]) throws -> [Int] {
            if key == "depths" && (options[key] ?? .null) == .null {
                throw SamplerError("early-exit: give depths, the blocks run in each interval (one more than the boundaries), e.g. [6, 3]")
            }
            let list = options[key]?.arrayValue ?? fallback
            let values = list.compactMap { v -> Int? in v.intValue.flatMap { Double($0) == v.doubleValue ? Int($0) : nil } }
            guard values.count == list.count, !values.isEmpty else {
                throw SamplerError("early-exit: \(key) \(JSONValue.array(list).serialized()) is not a list of integers")
            }
            return values
        }
        let schedule = EarlyExitSchedule(boundaries: try integers("boundaries", [.int(500)]), depths: try integers("depths", [.null]))
        if let problem = schedule.problem(depth: Int.max / 2) { throw SamplerError("early-exit: \(problem)") }
        return schedule
    }

    public static func buffers(depth: Int) -> Int { 0 }
}
