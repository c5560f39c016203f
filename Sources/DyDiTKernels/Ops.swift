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

    /// Multiplies, in each row, column group `j` (`groupWidth` columns from `j·groupWidth`) by
    /// `mask[sample·maskStride + j]`, where a row's sample is `row / rowsPerSample`: DyDiT's
    /// masked reference path for heads (after attention) and MLP channel groups.
    public static func scaleColumnGroups(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, rowsPerSample: Int,
                                         groupWidth: Int, groups: Int, mask: UnsafePointer<Float>, maskStride: Int) {
        for r in 0..<rows {
            let m = mask + (r / rowsPerSample) * maskStride
            let row = x + r * ld
            for j in 0..<groups where m[j] != 1 {
                let seg = row + j * groupWidth
                if m[j] == 0 {
                    seg.update(repeating: 0, count: groupWidth)
                } else {
                    for e in 0..<groupWidth { seg[e] *= m[j] }
                }
            }
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
