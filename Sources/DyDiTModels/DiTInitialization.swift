import DyDiTIO
#if canImport(Glibc)
import Glibc
#endif

extension DiTParameters {
    /// How to fill new weights.
    public enum Initialization: String, Sendable {
        /// DiT's `initialize_weights`: xavier-uniform linears with zero bias, N(0, 0.02) label
        /// table and timestep MLP, zero adaLN modulations and final linear (each block starts
        /// as the identity), fixed sin-cos position embedding.
        case dit
        /// As `dit` but with every zero-initialised layer random too, so all paths compute
        /// something: for benchmarks and tests, where an identity block would hide work.
        case random
    }

    public static func initialized(_ config: DiTConfig, seed: UInt64, _ style: Initialization = .dit) -> DiTParameters {
        var rng = RandomGenerator(seed: seed)
        var tensors: [String: [Float]] = [:]
        for (name, shape) in shapes(config) {
            let count = shape.reduce(1, *)
            let isBias = name.hasSuffix(".bias")
            let zeroInDiT = name.contains("adaLN_modulation") || name.hasPrefix(DiTLayerNames.finalLinear)
            if name == DiTLayerNames.posEmbed {
                tensors[name] = PositionEmbedding.sinCos2D(hidden: config.hiddenSize, grid: config.gridSize)
            } else if name.hasPrefix("y_embedder") || name.hasPrefix("t_embedder.mlp.") && !isBias {
                tensors[name] = (0..<count).map { _ in 0.02 * rng.normal() }
            } else if zeroInDiT && style == .dit || isBias && style == .dit {
                tensors[name] = [Float](repeating: 0, count: count)
            } else if isBias {
                tensors[name] = (0..<count).map { _ in 0.02 * rng.normal() }
            } else {
                // Xavier-uniform on the weight seen as [out, in] (conv weights flattened).
                let fanOut = shape[0], fanIn = count / shape[0]
                let bound = Float((6 / Double(fanIn + fanOut)).squareRoot())
                tensors[name] = (0..<count).map { _ in Float(2 * rng.uniform() - 1) * bound }
            }
        }
        return DiTParameters(config: config, tensors: tensors)
    }
}
