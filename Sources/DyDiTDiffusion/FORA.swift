import DyDiTIO
import DyDiTModels

/// FORA (Selvaraju et al. 2024, "Fast-Forward Caching in Diffusion Transformer Acceleration";
/// `prathebaselva/FORA` commit 29f4cf9, `src/models.py` `DiTBlock.forward`, mode
/// `boost_infer_static`): every block's attention and MLP outputs are computed and cached at the
/// first step and wherever the respaced index `i` (counting down from `steps − 1` to 0, as
/// DiT's loop passes it) is a multiple of `interval`, and reused in between with the current
/// step's adaLN gates. `interval` 1 computes every step: the dense model.
public struct FORAPolicy: StepCachePolicy {
    public let interval: Int
    public var name: String { "fora (interval \(interval))" }

    public init(interval: Int) throws {
        guard interval >= 1 else { throw SamplerError("fora: interval \(interval) is below 1; an interval is ≥ 1 (1 = compute every step)") }
        self.interval = interval
    }

    public func reuses(step k: Int, of steps: Int) -> Bool {
        let i = steps - 1 - k
        return k != 0 && i % interval != 0
    }

    public func buffers(depth: Int) -> Int { FORAPlugin.buffers(depth: depth) }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession { Session(policy: self, steps: steps) }

    /// The schedule is fixed: no state beyond the step count.
    final class Session: StepCacheSession {
        let policy: FORAPolicy, steps: Int
        init(policy: FORAPolicy, steps: Int) { (self.policy, self.steps) = (policy, steps) }
        func plan(step k: Int) -> StepCachePlan { policy.reuses(step: k, of: steps) ? .reuseBranches : .fillBranches }
    }
}

public enum FORAPlugin: StepCachePlugin {
    public static let name = "fora"
    public static let summary = "FORA: compute every block every `interval` steps, reuse the attention and MLP outputs in between (training-free)"
    public static let options = [PluginOption("interval", .int(2), "steps between full computations, ≥ 1 (1 = dense)")]
    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? {
        try FORAPolicy(interval: options.pluginInt("interval", name, default: 2))
    }
    /// Attention and MLP branches of every block.
    public static func buffers(depth: Int) -> Int { 2 * depth }
}
