import DyDiTTraining
import DyDiTModels
import DyDiTDiffusion
import DyDiTEvaluation
import DyDiTIO

/// Every plug-in kind, by name, in one place: the only map from a spec's `"type"` strings to
/// types. Registering a new width or token router is one line in the lists below (see the
/// README's worked example); samplers are listed in `SamplerRegistry.plugins`.
public enum Registry {
    public static let widthRouters: [WidthRouterPlugin.Type] = [
        NoWidthRouting.self, LearnedWidthRouter.self, RandomWidthRouter.self, StaticWidthRouter.self,
    ]

    public static let tokenRouters: [TokenRouterPlugin.Type] = [
        NoTokenRouting.self, LearnedTokenRouter.self, RandomTokenRouter.self, StaticTokenRouter.self, LayerSkipRouter.self,
    ]

    /// Backbones: a dense DiT, or a DyDiT (a DiT with routers).
    public static let backbones: [BackbonePlugin.Type] = [DiTBackbone.self, DyDiTBackbone.self]

    /// Precisions (`"precision": name`, or `{"type": name, "fp32_layers": [...]}`).
    public static let precisions: [PrecisionPlugin.Type] = [FP32Precision.self, FP16Precision.self, Int8Precision.self, BF16Precision.self]

    public static func backbone(_ name: String) -> BackbonePlugin.Type? { backbones.first { $0.name == name } }
    public static func precision(_ name: String) -> PrecisionPlugin.Type? { precisions.first { $0.name == name } }

    /// Metrics of the run's measurements, in the order they are measured and reported.
    static let runMetrics: [RunMetric.Type] = [FLOPsMetric.self, LatencyMetric.self, MemoryMetric.self, TestLossMetric.self,
                                               FidelityMetric.self]

    /// Every metric `eval.metrics` may name: the run's, then the classifier-feature metrics
    /// (`FeatureMetrics`; eval.classifier, eval.reference; mean ± std over eval.seeds).
    public static var metrics: [NamedPlugin.Type] { runMetrics.map { $0 } + FeatureMetrics.all.map { $0 } }

    /// Metrics a spec gets when it names none (test-loss needs a dataset that fits the model).
    public static let defaultMetrics = ["flops", "latency", "memory", "fidelity"]

    /// Datasets (`train.dataset.type`, `eval.test.dataset.type`).
    public static let datasets: [DatasetPlugin.Type] = [FashionMNISTDataset.self, ImageFolderDataset.self]

    public static func dataset(_ name: String) -> DatasetPlugin.Type? { datasets.first { $0.name == name } }

    public static func loadDataset(_ d: DatasetChoice, channels: Int) throws -> ImageDataset {
        guard let plugin = dataset(d.type) else { preconditionFailure("unregistered dataset '\(d.type)'") }
        return try plugin.load(d, channels: channels)
    }

    /// The width and token routers of two validated choices, built by their plug-ins: what a
    /// spec's `routers` section and `dydit sample --routers` both end in.
    public static func makeRouters(width: ExperimentSpec.PluginChoice, token: ExperimentSpec.PluginChoice,
                                   _ context: PluginContext) throws -> (width: WidthRouter?, token: TokenRouter?) {
        (try widthRouter(width.type)!.make(width.options, context), try tokenRouter(token.type)!.make(token.options, context))
    }

    public static func widthRouter(_ name: String) -> WidthRouterPlugin.Type? { widthRouters.first { $0.name == name } }
    public static func tokenRouter(_ name: String) -> TokenRouterPlugin.Type? { tokenRouters.first { $0.name == name } }

    public static var widthRouterNames: [String] {
        var names: [String] = []
        for plugin in widthRouters { names.append(plugin.name) }
        return names
    }

    public static var tokenRouterNames: [String] {
        var names: [String] = []
        for plugin in tokenRouters { names.append(plugin.name) }
        return names
    }

    static func widthRouterOptions(_ name: String) -> [PluginOption] {
        for plugin in widthRouters where plugin.name == name { return plugin.options }
        return []
    }

    static func tokenRouterOptions(_ name: String) -> [PluginOption] {
        for plugin in tokenRouters where plugin.name == name { return plugin.options }
        return []
    }

    /// Samplers: `SamplerRegistry`'s plug-ins (they live beside the sampling code, which the
    /// diffusion target owns).
    public static var samplers: [SamplerPlugin.Type] { SamplerRegistry.plugins }

    /// One plug-in kind of the catalogue: its key in `dydit list --json`, where a spec names it,
    /// and its entries.
    public struct Kind {
        public let key: String
        public let specField: String
        public let entries: [NamedPlugin.Type]
    }

    /// Every plug-in kind with names, summaries, options and defaults: what `dydit list` prints,
    /// as text or JSON. A kind added to the registry belongs here too, and then appears in both.
    public static func catalogue() -> [Kind] {
        [
            Kind(key: "backbones", specField: "backbone.type", entries: backbones),
            Kind(key: "width_routers", specField: "routers.width.type", entries: widthRouters),
            Kind(key: "token_routers", specField: "routers.token.type", entries: tokenRouters),
            Kind(key: "samplers", specField: "sampler.type; steps in sampler.steps", entries: samplers),
            Kind(key: "caches", specField: "cache.type (with or without routers)", entries: StepCacheRegistry.plugins),
            Kind(key: "token_mergings", specField: "merge.type (the dense model)", entries: TokenMergingRegistry.plugins),
            Kind(key: "precisions", specField: "precision", entries: precisions),
            Kind(key: "metrics", specField: "eval.metrics", entries: metrics),
            Kind(key: "datasets", specField: "train.dataset, eval.test.dataset", entries: datasets),
        ]
    }

    /// `dydit list`: the catalogue for people.
    public static func listing() -> String {
        var out = ""
        for kind in catalogue() {
            let title = kind.key.replacingOccurrences(of: "_", with: " ").dropLast()
            out += "\(title) (\(kind.specField))\n"
            if kind.entries.isEmpty { out += "  (none registered yet)\n" }
            for plugin in kind.entries {
                out += "  \(plugin.name)  — \(plugin.summary)\n"
                for o in plugin.options { out += "      \(o.name) = \(o.defaultValue.serialized())  \(o.help)\n" }
            }
            out += "\n"
        }
        return out
    }

    /// `dydit list --json`: the catalogue for notebooks and tools, one key per kind, each a list
    /// of `{"name", "summary", "spec_field", "options": [{"name", "default", "help"}]}`.
    public static func listingJSON() -> JSONValue {
        .object(JSONObject(catalogue().map { kind in
            (kind.key, JSONValue.array(kind.entries.map { e in
                .object(JSONObject([
                    ("name", .string(e.name)), ("summary", .string(e.summary)), ("spec_field", .string(kind.specField)),
                    ("options", .array(e.options.map { o in
                        .object(JSONObject([("name", .string(o.name)), ("default", o.defaultValue), ("help", .string(o.help))]))
                    })),
                ]))
            }))
        }))
    }
}
