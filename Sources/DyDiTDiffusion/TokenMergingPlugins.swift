import DyDiTIO
import DyDiTModels

/// Token merging selectable by name (`"merge": {"type": "tome", "ratio": 0.5}`, `dydit sample
/// --merge tome --merge-option ratio=0.5`), on the dense model.
public protocol TokenMergingPlugin: NamedPlugin {
    /// nil for `none`. The registry has checked the option names and JSON types; `seed` is the
    /// run's, for the random destinations when the options give none.
    static func make(_ options: JSONObject, seed: UInt64) throws -> TokenMerging?
}

public enum NoTokenMerging: TokenMergingPlugin {
    public static let name = "none"
    public static let summary = "every block runs on every token"
    public static let options: [PluginOption] = []
    public static func make(_ options: JSONObject, seed: UInt64) throws -> TokenMerging? { nil }
}

public enum ToMePlugin: TokenMergingPlugin {
    public static let name = "tome"
    public static let summary = "ToMe (tomesd's bipartite soft matching in every block): merge `ratio` of the tokens into their most similar destinations before attention (and the MLP with `mlp`), copy back after (training-free)"
    public static let options = [
        PluginOption("ratio", .double(0.5), "share of the tokens merged away, in [0, 1) (at most the sources: 1 − 1/(sx·sy))",
                     check: OptionCheck(failure: "is outside [0, 1)") { v in v.doubleValue.map { $0 >= 0 && $0 < 1 } ?? false }),
        PluginOption("attention", .bool(true), "merge before attention (tomesd's merge_attn)"),
        PluginOption("mlp", .bool(false), "merge before the MLP (tomesd's merge_mlp; tomesd: \"very not recommended\")"),
        PluginOption("sx", .int(2), "window width in tokens: one destination per sx × sy window"),
        PluginOption("sy", .int(2), "window height in tokens"),
        PluginOption("random", .bool(true), "a random destination in each window, drawn per block and step (tomesd's use_rand; off for an odd batch); false: the top-left token"),
        PluginOption("seed", .null, "seed of the random destinations (default: the run's seed)"),
    ]

    public static func make(_ options: JSONObject, seed: UInt64) throws -> TokenMerging? {
        func int(_ key: String) throws -> Int { try options.pluginInt(key, name, default: 2) }
        let chosenSeed = options["seed"].flatMap { $0 == .null ? nil : $0.intValue }
        if let s = options["seed"], s != .null, chosenSeed == nil || chosenSeed! < 0 {
            throw SamplerError("tome: seed \(s.serialized()) is not an integer ≥ 0")
        }
        return TokenMerging(ratio: options["ratio"]?.doubleValue ?? 0.5, attention: options["attention"]?.boolValue ?? true,
                            mlp: options["mlp"]?.boolValue ?? false, sx: try int("sx"), sy: try int("sy"),
                            random: options["random"]?.boolValue ?? true, seed: chosenSeed.map { UInt64($0) } ?? seed)
    }
}

public enum TokenMergingRegistry {
    public static let plugins: [TokenMergingPlugin.Type] = [NoTokenMerging.self, ToMePlugin.self]
    public static var names: [String] { plugins.map { $0.name } }

    /// The merging `name` with `options` (nil for `none`); `config` checks it fits the model.
    public static func make(_ name: String, options: JSONObject = JSONObject(), seed: UInt64 = 0, config: DiTConfig? = nil,
                            source: String = "merge") throws -> TokenMerging? {
        guard let plugin = plugins.first(where: { $0.name == name }) else {
            let hint = closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw SamplerError(source: source, "unknown token merging '\(name)'\(hint); valid: \(names.joined(separator: ", "))")
        }
        try plugin.checkDeclared(options, kind: "token merging", source: source)
        do {
            let merging = try plugin.make(options, seed: seed)
            if let merging, let config, let problem = merging.problem(for: config) { throw SamplerError("\(name): \(problem)") }
            return merging
        } catch let e as SamplerError {
            throw SamplerError(source: source, e.detail)
        }
    }
}
