import DyDiTIO
import DyDiTModels

/// A sampler selectable by name, from a spec's `sampler` section or `--sampler`: its summary,
/// its declared options (its own, then its diffusers scheduler's, with defaults) and how to
/// build it. Registering one is a type and a line in `SamplerRegistry.plugins`.
public protocol SamplerPlugin: NamedPlugin {
    /// A sampler with `steps` (≥ 1) steps. `options` are as the user gave them: refusing the
    /// unknown and the out-of-range ones is the plug-in's, with `source` in the error.
    static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler
}

/// `own` options followed by those of diffusers' `kind` scheduler not already among them: a
/// sampler plug-in's declared options.
func withDiffusers(_ own: [PluginOption], _ kind: DiffusersConfig.Kind, via: String) -> [PluginOption] {
    let names = Set(own.map(\.name))
    return own + DiffusersConfig.defaults(kind).filter { !names.contains($0.0) }.map { PluginOption($0.0, $0.1, via) }
}

/// Samplers by name: the one map from a name to a sampler, used by the experiment specs, every
/// CLI command and the catalogue (`dydit list`).
public enum SamplerRegistry {
    public static let plugins: [SamplerPlugin.Type] = [DDPMPlugin.self, DDIMPlugin.self, DPMSolverPlugin.self, DPMSolverPlusPlusPlugin.self,
                                                       EulerPlugin.self, EulerAncestralPlugin.self, HeunPlugin.self, UniPCPlugin.self, DEISPlugin.self]

    public static var names: [String] { plugins.map { $0.name } }

    public static func plugin(_ name: String) -> SamplerPlugin.Type? { plugins.first { $0.name == name } }

    /// A sampler `name` with `steps` steps and `options`, for a model of `config`.
    /// - Parameter source: names the origin of the options in errors (a file, a JSON path, a flag).
    public static func make(_ name: String, steps: Int, options: JSONObject = JSONObject(), config: DiTConfig,
                            source: String = "sampler") throws -> Sampler {
        guard let plugin = plugin(name) else {
            let hint = closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw SamplerError(source: source, "unknown sampler '\(name)'\(hint); valid: \(names.joined(separator: ", "))")
        }
        guard steps >= 1 else { throw SamplerError(source: source, "steps must be at least 1 (got \(steps))") }
        return try plugin.make(steps: steps, options: options, config: config, source: source)
    }
}
