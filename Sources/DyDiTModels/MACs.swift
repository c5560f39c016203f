/// Multiply-accumulate counts of a DiT forward pass, per image (papers call these "FLOPs").
///
/// Per block (METHOD.md §5): `attn = N·D·3D + N·D·D + 2·N²·D` (qkv, proj, QKᵀ and PV) and
/// `mlp = 2·N·D·H` with `H = mlp_ratio·D`. The full model adds the patch embedding
/// `N·D·C·p²`, the timestep MLP `256·D + D·D`, every adaLN `D·6D` per block and `D·2D` for
/// the final layer, and the final linear `N·D·p²·outC`. Norms, softmax, activations and
/// additions are not counted, as in the papers' tables.
public struct MACs: Equatable, Sendable {
    public var patchEmbed: Double
    public var timestepEmbed: Double
    public var adaLN: Double
    public var attention: Double
    public var mlp: Double
    public var finalLayer: Double

    public var blocks: Double { attention + mlp }
    public var total: Double { patchEmbed + timestepEmbed + adaLN + attention + mlp + finalLayer }

    /// Attention MACs of one block.
    public static func attentionPerBlock(_ c: DiTConfig) -> Double {
        let n = Double(c.tokens), d = Double(c.hiddenSize)
        return n * d * 3 * d + n * d * d + 2 * n * n * d
    }

    /// MLP MACs of one block.
    public static func mlpPerBlock(_ c: DiTConfig) -> Double {
        2 * Double(c.tokens) * Double(c.hiddenSize) * Double(c.mlpHidden)
    }

    /// The static (dense) count of the whole model.
    public init(_ c: DiTConfig) {
        let n = Double(c.tokens), d = Double(c.hiddenSize), depth = Double(c.depth)
        patchEmbed = n * d * Double(c.patchDim)
        timestepEmbed = Double(DiTConfig.frequencyDim) * d + d * d
        adaLN = depth * d * 6 * d + d * 2 * d
        attention = depth * Self.attentionPerBlock(c)
        mlp = depth * Self.mlpPerBlock(c)
        finalLayer = n * d * Double(c.finalDim)
    }

    public var summary: [(String, Double)] {
        [("patch embed", patchEmbed), ("timestep embed", timestepEmbed), ("adaLN", adaLN),
         ("attention", attention), ("mlp", mlp), ("final layer", finalLayer), ("total", total)]
    }
}
