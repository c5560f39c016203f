import DyDiTIO
import DyDiTModels

/// Δ-DiT (Chen et al. 2024, "Δ-DiT: A Training-Free Acceleration Method Tailored for Diffusion
/// Transformers", arXiv 2406.01125): the Δ-Cache keeps the residual of `blocks` consecutive
/// blocks (their output minus their input) from a full step and, for the next `interval − 1`
/// steps, adds it to the range's current input instead of running the range. Which blocks is
/// stage-adaptive: the paper finds DiT's front blocks make the outline and its rear blocks the
/// details, so the rear blocks are cached in the early (outline) steps, before the boundary,
/// and the front blocks after it. The paper's code was announced but never published (no
/// public repository found, 2026-12); this follows its description: full steps at every
/// multiple of `interval`, and at the step the boundary is crossed (the cache then holds the
/// other range). The boundary is a share of the steps here (the paper gives a timestep), so
/// one setting fits every sampler and step count.
public struct DeltaDiTPolicy: StepCachePolicy {
    public let interval: Int
    /// Cached blocks (N_c); nil: half the depth.
    public let blocks: Int?
    /// Share of the steps, from the first, that cache the rear blocks.
    public let boundary: Double

    public var name: String { "delta-dit (interval \(interval), \(blocks.map { "\($0)" } ?? "half the") blocks, boundary \(boundary))" }

    public init(interval: Int, blocks: Int?, boundary: Double) throws {
        guard interval >= 1 else { throw SamplerError("delta-dit: interval \(interval) is below 1; an interval is ≥ 1 (1 = compute every step)") }
        if let blocks, blocks < 1 { throw SamplerError("delta-dit: blocks \(blocks) is below 1; the Δ-Cache spans ≥ 1 block") }
        guard boundary.isFinite, (0...1).contains(boundary) else {
            throw SamplerError("delta-dit: boundary \(boundary) is outside [0, 1]; it is the share of the steps that cache the rear blocks")
        }
        self.interval = interval
        self.blocks = blocks
        self.boundary = boundary
    }

    /// The cached range at step `k`: the last `n` blocks before the boundary, the first `n` after.
    public func range(step k: Int, of steps: Int, depth: Int) -> Range<Int> {
        let n = blocks ?? max(1, depth / 2)
        return k < Int((boundary * Double(steps)).rounded()) ? (depth - n)..<depth : 0..<n
    }

    public func buffers(depth: Int) -> Int { DeltaDiTPlugin.buffers(depth: depth) }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession {
        if let blocks, blocks > depth {
            throw SamplerError("delta-dit: blocks \(blocks) is more than the model's \(depth) blocks")
        }
        return Session(policy: self, steps: steps, depth: depth)
    }

    final class Session: StepCacheSession {
        let policy: DeltaDiTPolicy, steps: Int, depth: Int
        /// The range whose residual the cache holds.
        var held: Range<Int>?
        init(policy: DeltaDiTPolicy, steps: Int, depth: Int) { (self.policy, self.steps, self.depth) = (policy, steps, depth) }

        func plan(step k: Int) -> StepCachePlan {
            let range = policy.range(step: k, of: steps, depth: depth)
            if k % policy.interval == 0 || held != range {
                held = range
                return .fillResidual(range)
            }
            return .reuseResidual(range)
        }
    }
}

public enum DeltaDiTPlugin: StepCachePlugin {
    public static let name = "delta-dit"
    public static let summary = "Δ-DiT: every `interval` steps keep the residual of `blocks` blocks, add it in between instead of running them; the rear blocks before `boundary`, the front ones after (training-free)"
    public static let options = [
        PluginOption("interval", .int(2), "steps between full computations, ≥ 1 (1 = dense)"),
        PluginOption("blocks", .null, "blocks the Δ-Cache spans, N_c (default: half the depth)"),
        PluginOption("boundary", .double(0.5), "share of the steps, from the first, that cache the rear blocks; the rest cache the front blocks",
                     check: OptionCheck(failure: "is outside [0, 1]") { v in v.doubleValue.map { (0...1).contains($0) } ?? false }),
    ]
    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? {
        let blocks = options["blocks"].flatMap { $0 == .null ? nil : $0 }
        return try DeltaDiTPolicy(interval: options.pluginInt("interval", name, default: 2),
                                  blocks: try blocks.map { _ in try options.pluginInt("blocks", name, default: 0) },
                                  boundary: options["boundary"]?.doubleValue ?? 0.5)
    }
    /// The range's input, then its residual.
    public static func buffers(depth: Int) -> Int { 2 }
}
