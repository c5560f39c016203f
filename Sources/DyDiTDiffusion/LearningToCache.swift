import DyDiTIO
import DyDiTModels
#if canImport(Glibc)
import Glibc
#endif

/// Learning-to-Cache (Ma et al. 2024, "Learning-to-Cache: Accelerating Diffusion Transformer
/// via Layer Caching"; `horseee/learning-to-cache` commit d6cc781, `DiT/models/dynamic_models.py`
/// `DiT.forward` and `load_ranking`): one learned logit per sampling step and layer (block l's
/// attention at `2l`, its MLP at `2l + 1`). Counting the respaced index `r` down from
/// `steps − 1` to 0 as DiT's loop passes it, a step with odd `r` (and the first step, whose
/// cache is empty) computes every layer and keeps its outputs; a step with even `r` runs only
/// the layers whose `sigmoid(logit) > threshold` and reuses the previous step's output of the
/// others. The logits are trained with the model frozen (`train.l2c`, `L2CTrainer`).
public struct LearningToCachePolicy: StepCachePolicy {
    public let routers: LearningToCacheRouters
    public let threshold: Double
    public var name: String { "l2c (threshold \(threshold))" }
    /// Per-layer reuse is implemented on the dense block only.
    public var denseOnly: Bool { true }

    public init(routers: LearningToCacheRouters, threshold: Double) throws {
        guard threshold >= 0 && threshold <= 1 else { throw SamplerError("l2c: threshold \(threshold) is outside [0, 1]") }
        self.routers = routers
        self.threshold = threshold
    }

    /// Whether each layer of routed step `r` runs: `sigmoid(logit) > threshold` (the official
    /// `STE.apply(router(), thres)`).
    public func computes(respacedIndex r: Int) -> [Bool] {
        routers.logits[r].map { Double(1 / (1 + expf(-$0))) > threshold }
    }

    public func buffers(depth: Int) -> Int { LearningToCachePlugin.buffers(depth: depth) }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession {
        try check(steps: steps, depth: depth)
        return Session(policy: self, steps: steps)
    }

    public func session(timesteps: [Double], depth: Int) throws -> StepCacheSession {
        try check(steps: timesteps.count, depth: depth)
        if let trained = routers.timesteps, trained != timesteps {
            throw SamplerError("l2c: the routers were trained for the model timesteps \(trained.map { Int($0) }), this sampler runs \(timesteps.map { Int($0) }): train them for this sampler and step count (train.l2c with the same sampler section)")
        }
        return Session(policy: self, steps: timesteps.count)
    }

    private func check(steps: Int, depth: Int) throws {
        guard routers.steps == steps else {
            throw SamplerError("l2c: the routers have \(routers.steps) steps, the sampler runs \(steps): train them for this step count")
        }
        guard routers.layers == 2 * depth else {
            throw SamplerError("l2c: the routers decide \(routers.layers) layers, the model has \(2 * depth) (attention and MLP of \(depth) blocks)")
        }
    }

    final class Session: StepCacheSession {
        let policy: LearningToCachePolicy, steps: Int
        init(policy: LearningToCachePolicy, steps: Int) { (self.policy, self.steps) = (policy, steps) }
        func plan(step k: Int) -> StepCachePlan {
            let r = steps - 1 - k
            if k == 0 || r % 2 == 1 { return .fillBranches }
            let computes = policy.computes(respacedIndex: r)
            return computes.allSatisfy { $0 } ? .fillBranches : .selectBranches(computes)
        }
    }
}

/// L2C's learned logits, `[steps, 2·depth]` (row r: the official `routers[r].prob`, r the
/// respaced index, 0 = the last sampling step), with the model timesteps they were trained for.
public struct LearningToCacheRouters: Sendable, Equatable {
    public var logits: [[Float]]
    /// The sampler's model timesteps in sampling order (nil: not recorded).
    public var timesteps: [Double]?
    public var steps: Int { logits.count }
    public var layers: Int { logits.first?.count ?? 0 }

    public static let tensorName = "l2c.logits"

    public init(logits: [[Float]], timesteps: [Double]?) {
        self.logits = logits
        self.timesteps = timesteps
    }

    public init(path: String) throws {
        let file = try SafeTensorsFile(path: path)
        guard let entry = file.entries[Self.tensorName], entry.shape.count == 2 else {
            throw SamplerError("l2c: \(path) has no [steps, 2·depth] tensor '\(Self.tensorName)': it is not an L2C routers file (dydit train with train.l2c writes one)")
        }
        let flat = try file.floats(Self.tensorName, shape: entry.shape)
        let (n, w) = (entry.shape[0], entry.shape[1])
        logits = (0..<n).map { Array(flat[($0 * w)..<(($0 + 1) * w)]) }
        timesteps = try file.metadata["timesteps"].map { text in
            let list = try JSONParser.parse(text, path: path).arrayValue ?? []
            return list.compactMap(\.doubleValue)
        }
    }

    public func write(to path: String, metadata: [String: String] = [:]) throws {
        var meta = metadata
        if let timesteps { meta["timesteps"] = JSONValue.array(timesteps.map { .double($0) }).serialized() }
        try SafeTensorsWriter.write([(Self.tensorName, Tensor(logits.flatMap { $0 }, shape: [steps, layers]))], metadata: meta, to: path)
    }
}

public enum LearningToCachePlugin: StepCachePlugin {
    public static let name = "l2c"
    public static let summary = "Learning-to-Cache: every other step runs only the attention and MLP layers a learned per-step router keeps (sigmoid(logit) > threshold) and reuses the previous step's output of the others (routers trained by dydit train with train.l2c)"
    public static let options = [
        PluginOption("routers", .null, "path of the trained routers (the l2c-routers.safetensors dydit train writes); required"),
        PluginOption("threshold", .double(0.1), "a layer runs when sigmoid(logit) > threshold (the official θ, 0.1 for DiT at 20 steps)",
                     check: .nonNegative),
    ]

    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? {
        let threshold = options["threshold"]?.doubleValue ?? 0.1
        guard let file = options["routers"]?.stringValue else {
            throw SamplerError("l2c: give routers, the path of trained routers (dydit train with a train.l2c section writes l2c-routers.safetensors)")
        }
        let path = context.resolve(file)
        guard context.readsFiles else {
            return try LearningToCachePolicy(routers: LearningToCacheRouters(logits: [], timesteps: nil), threshold: threshold)
        }
        guard FileReader.exists(path) else {
            throw SamplerError("l2c: no routers at \(path): train them first (dydit train on a spec with train.l2c)")
        }
        return try LearningToCachePolicy(routers: LearningToCacheRouters(path: path), threshold: threshold)
    }

    /// Attention and MLP outputs of every block (FORA's cache).
    public static func buffers(depth: Int) -> Int { 2 * depth }

    /// The routers file a run with these options reads.
    public static func routersFile(_ options: JSONObject, context: StepCacheContext) -> String? {
        options["routers"]?.stringValue.map(context.resolve)
    }
}
