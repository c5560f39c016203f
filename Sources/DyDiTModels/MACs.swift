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

/// MACs of a DyDiT forward pass as its routers decided (METHOD.md §5), per image.
///
/// For sample b and block l, with `a` the fraction of heads, `g` of MLP channel groups and
/// `k` of tokens that ran: `F_b = Σ_l (a·attn + g·k·mlp)`; the FLOPs ratio is
/// `mean_b F_b / (depth·(attn + mlp))`. The full-model count adds the parts no router
/// touches (embeddings, adaLN, final layer) and the routers' own cost.
public struct DynamicMACs: Sendable {
    /// Mean over the batch of each block's attention and MLP MACs.
    public var attentionPerBlock: [Double]
    public var mlpPerBlock: [Double]
    /// `F_b` for each sample.
    public var blocksPerSample: [Double]
    /// Routers' MACs per image (width routers on the timestep embedding, token routers on every token).
    public var routers: Double
    public let dense: MACs

    public var blocks: Double { blocksPerSample.reduce(0, +) / Double(max(1, blocksPerSample.count)) }
    /// The paper's ratio: dynamic block MACs over dense block MACs.
    public var ratio: Double { blocks / dense.blocks }
    /// Full-model MACs per image: static parts + dynamic blocks + routers.
    public var total: Double { dense.total - dense.blocks + blocks + routers }

    /// `skipped`: blocks a step cache did not run this pass (their MACs and token routers are
    /// not counted; the record's entries for them are stale).
    public init(config c: DiTConfig, record r: RoutingRecord, widthRouted: Bool, tokenRouted: Bool, skipped: Range<Int> = 0..<0) {
        dense = MACs(c)
        let attn = MACs.attentionPerBlock(c), mlp = MACs.mlpPerBlock(c)
        attentionPerBlock = [Double](repeating: 0, count: c.depth)
        mlpPerBlock = attentionPerBlock
        blocksPerSample = [Double](repeating: 0, count: r.batch)
        for b in 0..<r.batch {
            for l in 0..<c.depth where !skipped.contains(l) {
                func mean(_ v: [Float], _ n: Int) -> Double {
                    let start = (b * c.depth + l) * n
                    return Double(v[start..<(start + n)].reduce(0, +)) / Double(n)
                }
                let a = mean(r.attnMasks, c.numHeads), g = mean(r.mlpMasks, c.numHeads), k = mean(r.tokenMasks, c.tokens)
                let fa = a * attn, fm = g * k * mlp
                attentionPerBlock[l] += fa / Double(r.batch)
                mlpPerBlock[l] += fm / Double(r.batch)
                blocksPerSample[b] += fa + fm
            }
        }
        let d = Double(c.hiddenSize), depth = Double(c.depth)
        let hidden = Double(RouterParameters.tokenHidden(c))
        // The width routers decide every block at once from the timestep embedding; a token
        // router runs inside its block.
        routers = (widthRouted ? depth * 2 * d * Double(c.numHeads - 1) : 0)
            + (tokenRouted ? Double(c.depth - skipped.count) * Double(c.tokens) * (d * hidden + hidden) : 0)
    }
}
