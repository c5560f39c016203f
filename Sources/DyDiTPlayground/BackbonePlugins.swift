import DyDiTIO
import DyDiTModels

/// A backbone selectable by name from a spec: `"backbone": {"type": name, …options}`. Both
/// backbones here run the same `DiT`; they differ in whether routers apply, which routers a
/// spec gets by default, and how `dydit train` trains them.
/// Its `options` are the keys of the `backbone` section besides `type`, with their defaults.
public protocol BackbonePlugin: NamedPlugin {
    /// Whether the model carries DyDiT's routers: routers other than `none` apply, and
    /// training fine-tunes them under a FLOPs target.
    static var routed: Bool { get }
    /// The routers a spec gets when it names none.
    static var defaultWidthRouter: String { get }
    static var defaultTokenRouter: String { get }
}

/// The `backbone` section's keys, shared by both backbones: a checkpoint (whose metadata gives
/// the sizes), or a named model or explicit config with the data's sizes, and an init.
enum BackboneOptions {
    static let all: [PluginOption] = [
        PluginOption("checkpoint", .null, "a .safetensors checkpoint (config in its metadata), relative to the spec's folder; excludes the size keys and init"),
        PluginOption("model", .string("DiT-S/2"), "a named DiT (DiT-S/2 … DiT-XL/8); or give config"),
        PluginOption("config", .null, "explicit sizes instead of model: {patch_size, hidden_size, depth, num_heads[, mlp_ratio]}"),
        PluginOption("input_size", .int(32), "image (or latent) side in pixels"),
        PluginOption("in_channels", .int(4), "image channels (4: VAE latents)"),
        PluginOption("num_classes", .int(1000), "class labels (plus the null class of classifier-free guidance)"),
        PluginOption("learn_sigma", .bool(true), "a second set of output channels for the variance"),
        PluginOption("init", .string("random"), "random, or dit (DiT's initialisation: zero adaLN and final layer)",
                     check: .oneOf(["random", "dit"])),
    ]

    /// The declared default of `key`.
    static func defaultValue(_ key: String) -> JSONValue {
        all.first { $0.name == key }?.defaultValue ?? .null
    }
}

/// The DiT of facebookresearch/DiT, dense.
public enum DiTBackbone: BackbonePlugin {
    public static let name = "dit"
    public static let summary = "the DiT of facebookresearch/DiT; routers must be none"
    public static var options: [PluginOption] { BackboneOptions.all }
    public static let routed = false
    public static let defaultWidthRouter = NoWidthRouting.name
    public static let defaultTokenRouter = NoTokenRouting.name
}

/// A DiT with DyDiT's routers (TDW and SDT by default).
public enum DyDiTBackbone: BackbonePlugin {
    public static let name = "dydit"
    public static let summary = "a DiT with DyDiT's routers (the checkpoint's, or their fine-tuning init for a plain DiT)"
    public static var options: [PluginOption] { BackboneOptions.all }
    public static let routed = true
    public static let defaultWidthRouter = LearnedWidthRouter.name
    public static let defaultTokenRouter = LearnedTokenRouter.name
}
