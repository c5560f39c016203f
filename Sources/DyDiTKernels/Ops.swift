/// Row-wise and element-wise kernels, split over the context's threads by rows.
/// Each task owns fixed rows, so results do not depend on the thread count.
public enum Ops {
    /// Below this many floats a kernel runs on the calling thread: waking workers costs more.
    static let parallelThreshold = 1 << 15

    /// Splits `rows` rows into fixed chunks and runs `body(rowRange)` over the pool.
    @inline(__always)
    static func forRows(_ rows: Int, width: Int, ctx: ComputeContext, _ body: (Range<Int>) -> Void) {
        if ctx.threadCount == 1 || rows < 2 || rows * width < parallelThreshold {
            body(0..<rows)
            return
        }
        let chunks = min(rows, ctx.threadCount * 4)
        let per = (rows + chunks - 1) / chunks
        let tasks = (rows + per - 1) / per
        ctx.pool.run(tasks: tasks) { task, _ in
            body((task * per)..<min(rows, (task + 1) * per))
        }
    }

    /// `y = LayerNorm(x)·(1 + scale[g]) + shift[g]` for `rows` rows of width `d`, where row r
    /// is in group `g = r / rowsPerGroup` and group g's shift and scale start `g·modStride`
    /// floats in (adaLN: one group per sample). LayerNorm has no affine parameters; nil
    /// shift/scale mean zero.
    public static func layerNormModulate(_ x: UnsafePointer<Float>, ldx: Int? = nil,
                                         into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
                                         rows: Int, d: Int, eps: Float = 1e-6,
                                         shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                         modStride: Int = 0, rowsPerGroup: Int = Int.max,
                                         ctx: ComputeContext) {
        let ldx = ldx ?? d, ldy = ldy ?? d
        let isa = ctx.isa
        forRows(rows, width: d, ctx: ctx) { r in
            Dispatch.layerNormModulate(isa, x + r.lowerBound * ldx, ldx: ldx, y + r.lowerBound * ldy, ldy: ldy,
                                       rows: r.count, d: d, eps: eps, shift: shift, scale: scale,
                                       modStride: modStride, rowsPerGroup: rowsPerGroup, rowOffset: r.lowerBound)
        }
    }

    /// `h[r] += rowMask[r] · gate[g] ⊙ x[r]` (adaLN-Zero's gated residual; the mask is DyDiT's
    /// token selection, all ones when nil), groups as in `layerNormModulate`.
    public static func gatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int? = nil,
                                     adding x: UnsafePointer<Float>, ldx: Int? = nil, rows: Int, d: Int,
                                     gate: UnsafePointer<Float>, gateStride: Int, rowsPerGroup: Int,
                                     rowMask: UnsafePointer<Float>? = nil, ctx: ComputeContext) {
        let ldh = ldh ?? d, ldx = ldx ?? d
        let isa = ctx.isa
        forRows(rows, width: d, ctx: ctx) { r in
            Dispatch.gatedResidual(isa, h + r.lowerBound * ldh, ldh: ldh, x + r.lowerBound * ldx, ldx: ldx,
                                   rows: r.count, d: d, gate: gate, gateStride: gateStride,
                                   rowsPerGroup: rowsPerGroup, rowOffset: r.lowerBound,
                                   rowMask: rowMask.map { $0 + r.lowerBound })
        }
    }

    /// DyDiT's token-router network on every row: `out[r] = w2 · relu(W1·x[r] + b1) + b2`
    /// (`RouterMLP` holds the weights in the kernel's layout).
    public static func routerLogits(_ x: UnsafePointer<Float>, ldx: Int? = nil, rows: Int, _ mlp: RouterMLP,
                                    into out: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        let ldx = ldx ?? mlp.inputs, isa = ctx.isa
        let w1t = UnsafePointer(mlp.w1t.pointer), b1 = UnsafePointer(mlp.b1.pointer), w2 = UnsafePointer(mlp.w2.pointer)
        let d = mlp.inputs, hp = mlp.hiddenPadded, b2 = mlp.b2
        forRows(rows, width: d, ctx: ctx) { r in
            Dispatch.routerLogits(isa, x + r.lowerBound * ldx, ldx: ldx, rows: r.count, d: d, w1t: w1t, hiddenPadded: hp,
                                  b1: b1, w2: w2, b2: b2, into: out + r.lowerBound)
        }
    }

    /// `x = activation(x + bias)` for `rows` rows of width `cols` (bias per column, optional).
    public static func biasActivation(_ x: UnsafeMutablePointer<Float>, ld: Int? = nil, rows: Int, cols: Int,
                                      bias: UnsafePointer<Float>?, activation: Activation,
                                      ctx: ComputeContext) {
        let ld = ld ?? cols
        let isa = ctx.isa
        forRows(rows, width: cols, ctx: ctx) { r in
            Dispatch.epilogue(isa, x + r.lowerBound * ld, ldc: ld, rows: r.count, cols: cols,
                              bias: bias, activation: activation)
        }
    }

    /// Row-wise `softmax(scale · s)` in place.
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int? = nil, rows: Int, cols: Int,
                                   scale: Float = 1, ctx: ComputeContext) {
        let ld = ld ?? cols
        let isa = ctx.isa
        forRows(rows, width: cols, ctx: ctx) { r in
            Dispatch.softmaxRows(isa, s + r.lowerBound * ld, ld: ld, rows: r.count, cols: cols, scale: scale)
        }
    }

    /// One key tile of the online softmax on `rows` rows (`ISAKernels.onlineSoftmaxRows`: the
    /// running maximum, sum and correction factor per row), on one thread: the tiled attention
    /// calls it inside its own tasks.
    public static func onlineSoftmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float,
                                         rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                                         alpha: UnsafeMutablePointer<Float>, isa: ISA) {
        Dispatch.onlineSoftmaxRows(isa, s, ld: ld, rows: rows, cols: cols, scale: scale, rowMax: rowMax, rowSum: rowSum,
                                   alpha: alpha)
    }

    /// `dst = activation(m · src)` where `m` is sample b's mask of the column group
    /// (`mask[b·maskStride + g]`, `groups` equal groups of `cols`; all 1 when nil): DyDiT's
    /// masks on the head outputs (before `proj`) and the fc1 outputs, as the official code
    /// multiplies them. The one masked-apply kernel of the inference model (in place, after
    /// the fused GELU: GELU(0·x) = 0·GELU(x) for 0/1 masks) and of training (before GELU, whose
    /// gradient needs the pre-activation). `src` may be `dst`.
    public static func maskedActivation(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, batch: Int,
                                        rowsPerSample n: Int, cols: Int, groups: Int, mask: UnsafePointer<Float>?,
                                        maskStride: Int, activation: Activation, ctx: ComputeContext) {
        let isa = ctx.isa
        Backward.forSamples(batch, floatsPerSample: n * cols, ctx: ctx) { b in
            let off = b * n * cols
            Dispatch.maskedActivation(isa, src + off, ldsrc: cols, dst + off, lddst: cols, rows: n, groupWidth: cols / groups,
                                      groups: groups, mask: mask.map { $0 + b * maskStride }, activation: activation)
        }
    }

    /// LayerNorm + modulate of gathered rows: output row i is `x[rowIndex[i]]` normalised
    /// with group `rowGroup[i]`'s shift and scale. Split over threads by output rows.
    public static func layerNormModulateGathered(_ x: UnsafePointer<Float>, ldx: Int? = nil, rowIndex: UnsafePointer<Int32>,
                                                 rowGroup: UnsafePointer<Int32>, into y: UnsafeMutablePointer<Float>,
                                                 ldy: Int? = nil, count: Int, d: Int, eps: Float = 1e-6,
                                                 shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                                 modStride: Int, ctx: ComputeContext) {
        let ldx = ldx ?? d, ldy = ldy ?? d
        let isa = ctx.isa
        forRows(count, width: d, ctx: ctx) { r in
            Dispatch.layerNormModulateGathered(isa, x, ldx: ldx, rowIndex: rowIndex + r.lowerBound,
                                               rowGroup: rowGroup + r.lowerBound, y + r.lowerBound * ldy, ldy: ldy,
                                               count: r.count, d: d, eps: eps, shift: shift, scale: scale,
                                               modStride: modStride)
        }
    }

    /// `h[rowIndex[i]] += gate[rowGroup[i]] ⊙ x[i]`: scatters gathered rows back. Indices
    /// must be distinct (each task owns its rows).
    public static func scatterGatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int? = nil, adding x: UnsafePointer<Float>,
                                            ldx: Int? = nil, count: Int, d: Int, gate: UnsafePointer<Float>, gateStride: Int,
                                            rowIndex: UnsafePointer<Int32>, rowGroup: UnsafePointer<Int32>,
                                            ctx: ComputeContext) {
        let ldh = ldh ?? d, ldx = ldx ?? d
        let isa = ctx.isa
        forRows(count, width: d, ctx: ctx) { r in
            Dispatch.scatterGatedResidual(isa, h, ldh: ldh, x + r.lowerBound * ldx, ldx: ldx, count: r.count, d: d,
                                          gate: gate, gateStride: gateStride, rowIndex: rowIndex + r.lowerBound,
                                          rowGroup: rowGroup + r.lowerBound)
        }
    }
}
