import DyDiTIO
import DyDiTKernels
import DyDiTModels

/// What a plug-in may need to build itself.
public struct PluginContext {
    public let config: DiTConfig
    /// The checkpoint's routers, or DyDiT's fine-tuning initialisation for a plain DiT.
    public let routers: RouterParameters
    public let isa: ISA
    public let seed: UInt64
    /// Resolves a path in a spec relative to the spec's folder.
    public let resolvePath: (String) -> String

    public init(config: DiTConfig, routers: RouterParameters, isa: ISA, seed: UInt64, resolvePath: @escaping (String) -> String) {
        self.config = config
        self.routers = routers
        self.isa = isa
        self.seed = seed
        self.resolvePath = resolvePath
    }
}

/// A width router selectable by name from a spec: `"routers": {"width": {"type": name, …options}}`.
public protocol WidthRouterPlugin: NamedPlugin {
    /// Whether it decides from the checkpoint's router weights (what `dydit sample` must load).
    static var readsCheckpointRouters: Bool { get }
    /// nil means every head and group on (the dense model).
    static func make(_ options: PluginOptions, _ context: PluginContext) throws -> WidthRouter?
}

/// A token router selectable by name from a spec: `"routers": {"token": {"type": name, …options}}`.
public protocol TokenRouterPlugin: NamedPlugin {
    /// Whether it decides from the checkpoint's router weights (what `dydit sample` must load).
    static var readsCheckpointRouters: Bool { get }
    static func make(_ options: PluginOptions, _ context: PluginContext) throws -> TokenRouter?
}

extension WidthRouterPlugin {
    public static var readsCheckpointRouters: Bool { false }
}

// MARK: Width routers

public enum NoWidthRouting: WidthRouterPlugin {
    public static let name = "none"
    public static let summary = "every head and MLP group on"
    public static let options: [PluginOption] = []
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> WidthRouter? { nil }
}

extension LearnedWidthRouter: WidthRouterPlugin {
    public static let name = "tdw"
    public static let readsCheckpointRouters = true
    public static let summary = "DyDiT's learned timestep-wise dynamic width (the checkpoint's routers, or their init)"
    public static let options: [PluginOption] = []
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> WidthRouter? { LearnedWidthRouter(c.routers, isa: c.isa) }
}

extension RandomWidthRouter: WidthRouterPlugin {
    public static let name = "random"
    public static let summary = "a random subset of round(keep·NH) heads and MLP groups per block, fixed per timestep"
    public static let options = [PluginOption("keep", .double(0.5), "share of heads and groups kept, in (0, 1]", check: .share),
                                 PluginOption("seed", .null, "generator seed (default: the spec's seed)")]
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> WidthRouter? {
        try RandomWidthRouter(config: c.config, keep: o.double("keep"), seed: o["seed"].intValue.map { UInt64(bitPattern: $0) } ?? c.seed)
    }
}

extension StaticWidthRouter: WidthRouterPlugin {
    public static let name = "static"
    public static let summary = "masks from a file: attn_masks_all_t, mlp_masks_all_t [T, depth, NH] (dydit routers export --all)"
    public static let options = [PluginOption("file", .null, "the .safetensors masks file (required)")]
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> WidthRouter? {
        guard let file = o.string("file") else { throw ModelError.badInput("option 'file' is required") }
        return try StaticWidthRouter(file: try SafeTensorsFile(path: c.resolvePath(file)), config: c.config)
    }
}

extension TokenRouterPlugin {
    public static var readsCheckpointRouters: Bool { false }
}

// MARK: Token routers

public enum NoTokenRouting: TokenRouterPlugin {
    public static let name = "none"
    public static let summary = "every token through every MLP"
    public static let options: [PluginOption] = []
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> TokenRouter? { nil }
}

extension LearnedTokenRouter: TokenRouterPlugin {
    public static let name = "sdt"
    public static let readsCheckpointRouters = true
    public static let summary = "DyDiT's learned spatial-wise dynamic tokens (the checkpoint's routers, or their init)"
    public static let options: [PluginOption] = []
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> TokenRouter? { LearnedTokenRouter(c.routers) }
}

extension RandomTokenRouter: TokenRouterPlugin {
    public static let name = "random"
    public static let summary = "a random round(keep·N) tokens of each sample through each MLP"
    public static let options = [PluginOption("keep", .double(0.6), "share of tokens kept, in (0, 1]", check: .share),
                                 PluginOption("seed", .null, "generator seed (default: the spec's seed + 1)")]
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> TokenRouter? {
        try RandomTokenRouter(keep: o.double("keep"), seed: o["seed"].intValue.map { UInt64(bitPattern: $0) } ?? c.seed &+ 1)
    }
}

extension StaticTokenRouter: TokenRouterPlugin {
    public static let name = "static"
    public static let summary = "token masks from a file: token_masks [depth, N], the same for every sample"
    public static let options = [PluginOption("file", .null, "the .safetensors masks file (required)")]
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> TokenRouter? {
        guard let file = o.string("file") else { throw ModelError.badInput("option 'file' is required") }
        return try StaticTokenRouter(file: try SafeTensorsFile(path: c.resolvePath(file)), config: c.config)
    }
}

extension LayerSkipRouter: TokenRouterPlugin {
    public static let name = "layer-skip"
    public static let readsCheckpointRouters = true
    public static let summary = "the paper's ablation: a block's whole MLP runs or not, decided from the SDT router's token votes"
    public static let options = [PluginOption("threshold", .double(0.5), "share of tokens the SDT router must keep for the layer to run", check: .share)]
    public static func make(_ o: PluginOptions, _ c: PluginContext) throws -> TokenRouter? {
        try LayerSkipRouter(inner: LearnedTokenRouter(c.routers), threshold: o.double("threshold"))
    }
}
