import DyDiTKernels
#if canImport(Glibc)
import Glibc
#endif

/// The parts of DiT's forward pass around the blocks — patch and position embedding, the
/// conditioning vector `c = t-embedding + label embedding` with the `SiLU(c)` every adaLN reads,
/// and the final layer — written once for inference (`DiT`) and training (`TrainableDiT`).
/// The two differ only in how a linear layer runs (packed weights, or slices of a parameter
/// set) and in what training keeps for its backward pass, so a layer comes in as a closure and
/// every buffer is the caller's.
public enum DiTConditioning {
    /// A linear layer on `rows` rows of `x`, written to `y`.
    public typealias Linear = (_ x: UnsafePointer<Float>, _ rows: Int, _ y: UnsafeMutablePointer<Float>) -> Void

    /// `x_embedder`: images `[B, C, H, W]` cut into patches (`patches`, `[B·N, C·p·p]`) and
    /// projected to tokens `[B·N, D]` in `h` (before the position embedding, as the reference
    /// files record `act/x_embedder`).
    public static func embedPatches(_ x: UnsafePointer<Float>, batch: Int, config c: DiTConfig,
                                    patches: UnsafeMutablePointer<Float>, into h: UnsafeMutablePointer<Float>, linear: Linear) {
        Patches.extract(x, batch: batch, channels: c.inChannels, height: c.inputSize, width: c.inputSize,
                        patch: c.patchSize, into: patches)
        linear(patches, batch * c.tokens, h)
    }

    /// `h += pos_embed` on each sample's N tokens (the fixed sin-cos table, `[N, D]`).
    public static func addPositions(_ h: UnsafeMutablePointer<Float>, batch: Int, config c: DiTConfig,
                                    position: UnsafePointer<Float>) {
        let d = c.hiddenSize, n = c.tokens
        for r in 0..<(batch * n) {
            let row = h + r * d, p = position + (r % n) * d
            for j in 0..<d { row[j] += p[j] }
        }
    }

    /// `y_embedder`: row `y[b]` of the label table `[classes (+ null), D]` into row b of `c`.
    public static func embedLabels(_ y: [Int], table: UnsafePointer<Float>, d: Int, into c: UnsafeMutablePointer<Float>) {
        for (b, label) in y.enumerated() {
            (c + b * d).update(from: table + label * d, count: d)
        }
    }

    /// `c += te` (the label embeddings already in `c`), and `silu = SiLU(c)`, `[B, D]` each.
    public static func addTimestep(_ te: UnsafePointer<Float>, to c: UnsafeMutablePointer<Float>, count: Int,
                                   silu: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            c[i] += te[i]
            silu[i] = Self.silu(c[i])
        }
    }

    /// The final layer: `LN(h)·(1 + scale) + shift` (the modulation's last two rows, `fin`,
    /// sample b `modStride` further) into `normed`, the linear into `tokens` `[B·N, p·p·outC]`,
    /// then unpatchified into `out` `[B, outC, H, W]`.
    public static func finalLayer(_ h: UnsafePointer<Float>, batch: Int, config c: DiTConfig, modulation fin: UnsafePointer<Float>,
                                  modStride: Int, normed: UnsafeMutablePointer<Float>, tokens: UnsafeMutablePointer<Float>,
                                  out: UnsafeMutablePointer<Float>, linear: Linear, ctx: ComputeContext) {
        let d = c.hiddenSize, n = c.tokens, rows = batch * n
        Ops.layerNormModulate(h, into: normed, rows: rows, d: d, shift: fin, scale: fin + d, modStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        linear(normed, rows, tokens)
        Patches.assemble(tokens, ld: c.finalDim, batch: batch, channels: c.outChannels, height: c.inputSize,
                         width: c.inputSize, patch: c.patchSize, into: out)
    }

    /// SiLU in float32 as PyTorch computes it: `x·σ(x)`.
    @inline(__always)
    public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }
}
