import DyDiTIO
import DyDiTKernels

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

    /// How the file's linear layers were quantized by `dydit quantize` (nil: a float file,
    /// which runs in any precision).
    public var quantization: PrecisionPlan? { parameters.storedPlan }

    /// The parameters, to be run in `plan`: a quantized file runs only in the plan it was
    /// quantized with, since its fp32 values are gone.
    public func parameters(for plan: PrecisionPlan) throws -> DiTParameters {
        if let stored = quantization, !stored.sameLayers(as: plan) {
            throw ModelError.badConfig(path, "holds weights quantized to \(stored) by `dydit quantize`, so it runs only in that precision, not \(plan); set the precision to \(stored.specJSON.serialized()) (CLI: --precision \(stored.base)), or use the float file it was made from")
        }
        return parameters
    }

    /// The plan for a command line's `--precision`: the quantized plan when none is given or
    /// when it names the file's own precision (fp32 layers included), else `base` throughout.
    public func plan(asking base: WeightPrecision?) -> PrecisionPlan {
        guard let base else { return quantization ?? .fp32 }
        if let quantization, quantization.base == base { return quantization }
        return PrecisionPlan(base)
    }
}
