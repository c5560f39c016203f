import DyDiTIO
import DyDiTModels

/// A training-free step cache (issue 17's caching family): which work each sampling step's
/// forward pass reuses from an earlier step. The model side is `BlockCache` (every block's
/// attention and MLP branches: FORA) and `ResidualCache` (a range of blocks' residual:
/// Δ-DiT, TeaCache).
public protocol StepCachePolicy: Sendable {
    var name: String { get }
    /// `[rows, D]` buffers the cache keeps, for a model of `depth` blocks: its extra memory.
    func buffers(depth: Int) -> Int
    /// A fresh decision state for one trajectory of `steps` steps through `depth` blocks;
    /// throws when the options do not fit the model (a block range past its depth).
    func session(steps: Int, depth: Int) throws -> StepCacheSession
    /// The same for the sampler's model timesteps (what the sampling loop calls): a policy that
    /// decides by timestep implements this one.
    func session(timesteps: [Double], depth: Int) throws -> StepCacheSession
    /// Whether it runs on the plain dense model only (no routers, no token merging).
    var denseOnly: Bool { get }
}

extension StepCachePolicy {
    public var denseOnly: Bool { false }

    public func session(timesteps: [Double], depth: Int) throws -> StepCacheSession {
        try session(steps: timesteps.count, depth: depth)
    }
}

/// The decisions along one trajectory (state: what the cache holds, TeaCache's accumulated
/// change).
public protocol StepCacheSession: AnyObject {
    /// What step `k`'s forward does; asked once per step, in order.
    func plan(step k: Int) -> StepCachePlan
    /// Bytes of state it keeps beside the model's caches (TeaCache: the previous modulated input).
    var bytes: Int { get }
}

extension StepCacheSession {
    public var bytes: Int { 0 }
}

/// One forward pass's use of the step cache.
public enum StepCachePlan {
    /// Run every block and keep nothing.
    case compute
    /// FORA: run every block and keep its attention and MLP branches.
    case fillBranches
    /// FORA: run no block's attention or MLP; add the kept branches with this step's gates.
    case reuseBranches
    /// L2C: run the branches `computes` marks (`2l` attention, `2l + 1` MLP of block l), reuse
    /// the kept output of the others.
    case selectBranches([Bool])
    /// Run the blocks and keep the range's residual.
    case fillResidual(Range<Int>)
    /// Skip the range; add its kept residual.
    case reuseResidual(Range<Int>)
    /// TeaCache: the decider chooses between the two from the range's first modulated input.
    case decideResidual(Range<Int>, ResidualCacheDecider)
    /// Early exit: the range does not run and nothing replaces it.
    case skipBlocks(Range<Int>)
}

/// What a plug-in's `make` may need beyond its options.
public struct StepCacheContext: Sendable {
    /// The weights the cache will run with (TeaCache finds its fitted coefficients beside them).
    public var weights: String?
    /// Whether files named by the options may be read now (false while a spec is only
    /// validated without its files).
    public var readsFiles: Bool
    /// Makes a path in the options absolute (a spec's paths are relative to the spec).
    public var resolve: @Sendable (String) -> String

    public init(weights: String? = nil, readsFiles: Bool = true, resolve: @escaping @Sendable (String) -> String = { $0 }) {
        self.weights = weights
        self.readsFiles = readsFiles
        self.resolve = resolve
    }
}

/// A step cache selectable by name (`"cache": {"type": "fora", "interval": 3}`, `dydit sample
/// --cache fora --cache-option interval=3`), like the samplers.
public protocol StepCachePlugin: NamedPlugin {
    /// nil for `none`. The registry has checked the option names and JSON types.
    static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy?
    /// `[rows, D]` buffers it keeps for a model of `depth` blocks (the memory estimate's, before
    /// any options are read).
    static func buffers(depth: Int) -> Int
}

public enum NoStepCache: StepCachePlugin {
    public static let name = "none"
    public static let summary = "every step computes every block"
    public static let options: [PluginOption] = []
    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? { nil }
    public static func buffers(depth: Int) -> Int { 0 }
}

extension NamedPlugin {
    /// Refuses options this plug-in does not declare and values of the wrong type (`kind`:
    /// "cache", "token merging", for the message).
    static func checkDeclared(_ options: JSONObject, kind: String, source: String) throws {
        for (key, value) in options.pairs {
            guard let option = declaredOption(key) else {
                let known = Self.options.map(\.name).sorted()
                throw SamplerError(source: source, "unknown option '\(key)' for \(kind) \(name); options: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
            }
            if let problem = option.problem(with: value) { throw SamplerError(source: source, "\(name): \(key) \(problem)") }
        }
    }

    static func declaredOption(_ key: String) -> PluginOption? { Self.options.first { $0.name == key } }
}

extension JSONObject {
    /// An integer option (the registry checked it is a number): refuses 2.5.
    func pluginInt(_ key: String, _ plugin: String, default fallback: Int) throws -> Int {
        let value = self[key] ?? .int(Int64(fallback))
        guard let v = value.intValue, Double(v) == value.doubleValue else {
            throw SamplerError("\(plugin): \(key) \(value.serialized()) is not an integer")
        }
        return Int(v)
    }
}

public enum StepCacheRegistry {
    public static let plugins: [StepCachePlugin.Type] = [NoStepCache.self, FORAPlugin.self, DeltaDiTPlugin.self, TeaCachePlugin.self,
                                                         EarlyExitPlugin.self, LearningToCachePlugin.self]
    public static var names: [String] { plugins.map { $0.name } }

    public static func plugin(_ name: String) -> StepCachePlugin.Type? { plugins.first { $0.name == name } }

    /// The policy `name` with `options` (nil for `none`): unknown names and options, values of
    /// the wrong type and values out of range are errors naming `source`.
    public static func make(_ name: String, options: JSONObject = JSONObject(), context: StepCacheContext = StepCacheContext(),
                            source: String = "cache") throws -> StepCachePolicy? {
        guard let plugin = plugin(name) else {
            let hint = closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw SamplerError(source: source, "unknown cache '\(name)'\(hint); valid: \(names.joined(separator: ", "))")
        }
        try plugin.checkDeclared(options, kind: "cache", source: source)
        do {
            return try plugin.make(options, context: context)
        } catch let e as SamplerError {
            throw SamplerError(source: source, e.detail)
        }
    }
}
