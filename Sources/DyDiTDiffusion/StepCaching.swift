import DyDiTIO
import DyDiTModels

/// Which sampling steps reuse the blocks' cached outputs instead of computing them (the
/// caching family of issue 17; the model side is `BlockCache`).
public protocol StepCachePolicy: Sendable {
    var name: String { get }
    /// Whether step `k` of `steps` reuses the cache. Step 0 never does: it fills the cache.
    func reuses(step k: Int, of steps: Int) -> Bool
}

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
}

/// A step cache selectable by name (`"cache": {"type": "fora", "interval": 3}`, `dydit sample
/// --cache fora --cache-option interval=3`), like the samplers.
public protocol StepCachePlugin: NamedPlugin {
    /// nil for `none`.
    static func make(_ options: JSONObject, source: String) throws -> StepCachePolicy?
}

public enum NoStepCache: StepCachePlugin {
    public static let name = "none"
    public static let summary = "every step computes every block"
    public static let options: [PluginOption] = []
    public static func make(_ options: JSONObject, source: String) throws -> StepCachePolicy? { nil }
}

public enum FORAPlugin: StepCachePlugin {
    public static let name = "fora"
    public static let summary = "FORA: compute every block every `interval` steps, reuse the attention and MLP outputs in between (training-free)"
    public static let options = [PluginOption("interval", .int(2), "steps between full computations, ≥ 1 (1 = dense)")]
    public static func make(_ options: JSONObject, source: String) throws -> StepCachePolicy? {
        let value = options["interval"] ?? .int(2)
        guard let interval = value.intValue, Double(interval) == value.doubleValue else {
            throw SamplerError(source: source, "fora: interval \(value.serialized()) is not an integer; an interval is an integer ≥ 1")
        }
        do { return try FORAPolicy(interval: Int(interval)) } catch let e as SamplerError { throw SamplerError(source: source, e.detail) }
    }
}

public enum StepCacheRegistry {
    public static let plugins: [StepCachePlugin.Type] = [NoStepCache.self, FORAPlugin.self]
    public static var names: [String] { plugins.map { $0.name } }

    public static func make(_ name: String, options: JSONObject = JSONObject(), source: String = "cache") throws -> StepCachePolicy? {
        guard let plugin = plugins.first(where: { $0.name == name }) else {
            let hint = closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw SamplerError(source: source, "unknown cache '\(name)'\(hint); valid: \(names.joined(separator: ", "))")
        }
        let known = Set(plugin.options.map(\.name))
        if let unknown = options.keys.first(where: { !known.contains($0) }) {
            throw SamplerError(source: source, "unknown option '\(unknown)' for cache \(name); options: \(known.isEmpty ? "none" : known.sorted().joined(separator: ", "))")
        }
        return try plugin.make(options, source: source)
    }
}
