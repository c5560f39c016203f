import DyDiTIO

/// A weights file opened as a model: its config (from metadata), its DiT parameters, and
/// whether it carries DyDiT routers.
public struct Checkpoint {
    public let path: String
    public let file: SafeTensorsFile
    public let config: DiTConfig
    public let parameters: DiTParameters
    /// Names of DyDiT router tensors in the file (empty for a plain DiT).
    public let routerTensors: [String]
    /// The routers of a DyDiT checkpoint (nil for a plain DiT).
    public let routers: RouterParameters?

    public static func isRouterTensor(_ name: String) -> Bool {
        name.contains(".attn_rate.") || name.contains(".mlp_rate.") || name.contains(".token_selection.")
    }

    public init(path: String) throws {
        self.path = path
        file = try SafeTensorsFile(path: path)
        config = try DiTConfig(file: file)
        parameters = try DiTParameters.load(file, config: config, ignoring: Self.isRouterTensor)
        routerTensors = file.names.filter(Self.isRouterTensor)
        routers = routerTensors.isEmpty ? nil : try RouterParameters.load(file, config: config)
    }

    /// The checkpoint's routers, or DyDiT's fine-tuning initialisation for a plain DiT.
    public func routersOrInitialized(seed: UInt64 = 0) -> RouterParameters {
        routers ?? RouterParameters.initialized(config, seed: seed)
    }

    public var isDyDiT: Bool { !routerTensors.isEmpty }
}
