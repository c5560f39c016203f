import DyDiTIO

/// DyDiT's router weights (official names), per block:
/// `attn_rate.router` and `mlp_rate.router`: `Linear(D, R)` on the timestep embedding, where
/// R = NH − 1 (current release: a forced 1 is prepended, so head / group 0 is always on) or
/// R = NH (the early release: no forced unit);
/// `token_selection.mlp_head.{0,2}`: `Linear(D, D/16) → ReLU → Linear(D/16, 1)` on each token.
public struct RouterParameters: Sendable {
    public enum Format: String, Sendable {
        /// `NH − 1` outputs and a forced first unit.
        case current
        /// `NH` outputs, no forced unit.
        case early
    }

    public let config: DiTConfig
    public let format: Format
    public var tensors: [String: [Float]]

    /// Router outputs per block for `format`.
    public static func outputs(_ c: DiTConfig, _ format: Format) -> Int {
        format == .current ? c.numHeads - 1 : c.numHeads
    }

    /// Hidden width of the token router.
    public static func tokenHidden(_ c: DiTConfig) -> Int { c.hiddenSize / 16 }

    public static func shapes(_ c: DiTConfig, _ format: Format) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize, r = outputs(c, format), h = tokenHidden(c)
        return (0..<c.depth).flatMap { i -> [(String, [Int])] in
            let b = "blocks.\(i)."
            return [
                (b + "attn_rate.router.weight", [r, d]), (b + "attn_rate.router.bias", [r]),
                (b + "mlp_rate.router.weight", [r, d]), (b + "mlp_rate.router.bias", [r]),
                (b + "token_selection.mlp_head.0.weight", [h, d]), (b + "token_selection.mlp_head.0.bias", [h]),
                (b + "token_selection.mlp_head.2.weight", [1, h]), (b + "token_selection.mlp_head.2.bias", [1]),
            ]
        }
    }

    public init(config: DiTConfig, format: Format, tensors: [String: [Float]]) {
        self.config = config
        self.format = format
        self.tensors = tensors
    }

    /// Loads the routers of a DyDiT checkpoint, telling the format from the router shapes.
    public static func load(_ file: SafeTensorsFile, config c: DiTConfig) throws -> RouterParameters {
        let probe = "blocks.0.attn_rate.router.weight"
        guard let entry = file.entries[probe] else { throw ModelError.missingTensor(file: file.path, name: probe) }
        let format: Format
        switch entry.shape {
        case [c.numHeads - 1, c.hiddenSize]: format = .current
        case [c.numHeads, c.hiddenSize]: format = .early
        default:
            throw ModelError.badConfig(file.path, "router '\(probe)' has shape \(entry.shape); a DyDiT with \(c.numHeads) heads and hidden size \(c.hiddenSize) has [\(c.numHeads - 1), \(c.hiddenSize)] (current release) or [\(c.numHeads), \(c.hiddenSize)] (early release)")
        }
        var tensors: [String: [Float]] = [:]
        for (name, shape) in shapes(c, format) {
            guard let e = file.entries[name] else { throw ModelError.missingTensor(file: file.path, name: name) }
            guard e.shape == shape else {
                throw ModelError.shapeMismatch(file: file.path, name: name, expected: shape, actual: e.shape)
            }
            tensors[name] = try file.tensor(name).floats()
        }
        return RouterParameters(config: c, format: format, tensors: tensors)
    }

    /// A width router's tensor (`blocks.i.attn_rate.*`, `blocks.i.mlp_rate.*`).
    public static func isWidthRouterTensor(_ name: String) -> Bool { name.contains(".attn_rate.") || name.contains(".mlp_rate.") }
    /// Routers whose decisions vary from block to block, sample to sample and token to token:
    /// the fine-tuning init with every bias drawn from N(0, 0.5²). For tests and demos of
    /// routing (the official biases keep everything on).
    public static func mixed(_ c: DiTConfig, seed: UInt64) -> RouterParameters {
        var p = initialized(c, seed: seed)
        var rng = RandomGenerator(seed: seed + 1)
        for (name, _) in shapes(c, .current) where name.hasSuffix(".bias") {
            p.tensors[name] = p.tensors[name]!.map { _ in rng.normal() * 0.5 }
        }
        return p
    }

    /// The width routers' weight matrices: zero and frozen, they leave each unit's decision to
    /// its bias, the same at every timestep (a static width).
    public static func widthRouterWeightNames(_ c: DiTConfig) -> Set<String> {
        Set((0..<c.depth).flatMap { ["blocks.\($0).attn_rate.router.weight", "blocks.\($0).mlp_rate.router.weight"] })
    }

    /// These routers with the width routers' weights zeroed (`widthRouterWeightNames`).
    public func withStaticWidth() -> RouterParameters {
        var p = self
        for name in Self.widthRouterWeightNames(config) { p.tensors[name] = p.tensors[name]!.map { _ in 0 } }
        return p
    }

    /// A token router's tensor (`blocks.i.token_selection.*`).
    public static func isTokenRouterTensor(_ name: String) -> Bool { name.contains(".token_selection.") }

    /// The official initial biases: width routers 15, the token router's output 35 (everything on).
    public static let officialWidthBias: Float = 15
    public static let officialTokenBias: Float = 35

    /// Routers at DyDiT's fine-tuning initialisation, for a plain DiT: xavier-uniform
    /// weights, width-router bias `widthBias` and token-router output bias `tokenBias` (the
    /// official 15 and 35: everything on at first), other biases 0 (as `nn.Linear` under
    /// DiT's `_basic_init`).
    public static func initialized(_ c: DiTConfig, seed: UInt64, format: Format = .current,
                                   widthBias: Float = officialWidthBias, tokenBias: Float = officialTokenBias) -> RouterParameters {
        var rng = RandomGenerator(seed: seed)
        var tensors: [String: [Float]] = [:]
        for (name, shape) in shapes(c, format) {
            let count = shape.reduce(1, *)
            if name.hasSuffix(".bias") {
                let value: Float = name.contains("_rate.") ? widthBias : (name.contains("mlp_head.2") ? tokenBias : 0)
                tensors[name] = [Float](repeating: value, count: count)
            } else {
                let bound = Float((6 / Double(shape[0] + shape[1])).squareRoot())
                tensors[name] = (0..<count).map { _ in Float(2 * rng.uniform() - 1) * bound }
            }
        }
        return RouterParameters(config: c, format: format, tensors: tensors)
    }

    public subscript(name: String) -> [Float] {
        guard let t = tensors[name] else { preconditionFailure("no router parameter '\(name)'") }
        return t
    }

    public func namedTensors() -> [(name: String, tensor: Tensor)] {
        Self.shapes(config, format).map { ($0.name, Tensor(tensors[$0.name]!, shape: $0.shape)) }
    }
}
