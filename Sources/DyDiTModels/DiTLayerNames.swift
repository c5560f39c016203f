/// The official names of a DiT's layers (facebookresearch/DiT `models.py`), written once: the
/// state-dict table (`DiTParameters.shapes`), the packed model (`DiTWeights`), the trainer
/// (`TrainableDiT`) and the precision plan read them here, so they cannot drift apart.
/// A linear layer's parameters are `<name>.weight` and `<name>.bias`.
public enum DiTLayerNames {
    public static let patchEmbed = "x_embedder.proj"
    public static let posEmbed = "pos_embed"
    public static let timeIn = "t_embedder.mlp.0"
    public static let timeOut = "t_embedder.mlp.2"
    /// The label embedding table's parameter (a tensor, not a linear layer).
    public static let labelTable = "y_embedder.embedding_table.weight"
    public static let finalAdaLN = "final_layer.adaLN_modulation.1"
    public static let finalLinear = "final_layer.linear"

    /// Block `i`'s linear layers.
    public struct Block: Sendable {
        public let qkv, proj, fc1, fc2, adaLN: String

        /// The four linear layers of the attention and the MLP (the ones DyDiT slices), in order.
        public var linears: [String] { [qkv, proj, fc1, fc2] }
    }

    public static func block(_ i: Int) -> Block {
        let b = "blocks.\(i)."
        return Block(qkv: b + "attn.qkv", proj: b + "attn.proj", fc1: b + "mlp.fc1", fc2: b + "mlp.fc2",
                     adaLN: b + "adaLN_modulation.1")
    }

    /// Every block's adaLN modulation, then the final layer's: stacked, they run as one GEMM
    /// (they all read `SiLU(c)`).
    public static func stackedModulations(depth: Int) -> [String] { (0..<depth).map { block($0).adaLN } + [finalAdaLN] }
}
