/// Training kernels: the backward passes of `Ops` (and DyDiT's masked MLP forward), split
/// over the context's threads by sample. A sample's sums (its modulation gradients, its
/// mask gradients) are formed by one task in row order, so results do not depend on the
/// thread count.
public enum Backward {
    /// Runs `body(sample)` for every sample, in parallel when there is enough work.
    static func forSamples(_ batch: Int, floatsPerSample: Int, ctx: ComputeContext, _ body: (Int) -> Void) {
        if ctx.threadCount == 1 || batch < 2 || batch * floatsPerSample < Ops.parallelThreshold {
            for b in 0..<batch { body(b) }
            return
        }
        ctx.pool.run(tasks: batch) { b, _ in body(b) }
    }

    /// Gradient of `Ops.layerNormModulate` (rows of `rowsPerSample` per sample, sample b's
    /// scale at `scale + b·modStride`): `dx` (added when `accumulate`), and per sample
    /// `dShift[b·dModStride + j] += Σ dy`, `dScale[…] += Σ dy·x̂`.
    public static func layerNormModulate(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, batch: Int, rowsPerSample n: Int,
                                         d: Int, eps: Float = 1e-6, scale: UnsafePointer<Float>?, modStride: Int,
                                         dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                                         dShift: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?,
                                         dModStride: Int, ctx: ComputeContext) {
        let isa = ctx.isa
        forSamples(batch, floatsPerSample: n * d, ctx: ctx) { b in
            let off = b * n * d
            Dispatch.layerNormModulateBackward(isa, x + off, ldx: d, dy + off, ldy: d, rows: n, d: d, eps: eps,
                                               scale: scale.map { $0 + b * modStride }, dx + off, lddx: d,
                                               accumulate: accumulate, dShift: dShift.map { $0 + b * dModStride },
                                               dScale: dScale.map { $0 + b * dModStride })
        }
    }

    /// Gradient of `Ops.maskedActivation` with GELU: `dpre`, and `dMask[b·maskStride + g] += …`.
    public static func maskedGelu(pre: UnsafePointer<Float>, da: UnsafePointer<Float>, dpre: UnsafeMutablePointer<Float>,
                                  batch: Int, rowsPerSample n: Int, cols: Int, groups: Int, mask: UnsafePointer<Float>?,
                                  maskStride: Int, dMask: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        let isa = ctx.isa
        forSamples(batch, floatsPerSample: n * cols, ctx: ctx) { b in
            let off = b * n * cols
            Dispatch.maskedGeluBackward(isa, pre + off, ldpre: cols, da + off, ldda: cols, dpre + off, lddpre: cols, rows: n,
                                        groupWidth: cols / groups, groups: groups, mask: mask.map { $0 + b * maskStride },
                                        dMask: dMask.map { $0 + b * maskStride })
        }
    }

    /// Gradient of `y = m · x` by column group (the head mask): `dx = m·dy`,
    /// `dMask[b·maskStride + g] += Σ dy·x`.
    public static func maskedColumns(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                     batch: Int, rowsPerSample n: Int, cols: Int, groups: Int, mask: UnsafePointer<Float>,
                                     maskStride: Int, dMask: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        let isa = ctx.isa
        forSamples(batch, floatsPerSample: n * cols, ctx: ctx) { b in
            let off = b * n * cols
            Dispatch.maskedColumnsBackward(isa, dy + off, ldy: cols, x + off, ldx: cols, dx + off, lddx: cols, rows: n,
                                           groupWidth: cols / groups, groups: groups, mask: mask + b * maskStride,
                                           dMask: dMask + b * maskStride)
        }
    }

    /// Gradient of `Ops.gatedResidual`: `dx = m·gate ⊙ dh`, `dGate[b·dGateStride + j] += Σ m·dh·x`
    /// and, when `dMask` is given, `dMask[r] = Σ_j gate·dh·x` per row.
    public static func gatedResidual(dh: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, rowsPerSample n: Int,
                                     d: Int, gate: UnsafePointer<Float>, gateStride: Int, rowMask: UnsafePointer<Float>?,
                                     dx: UnsafeMutablePointer<Float>, dGate: UnsafeMutablePointer<Float>, dGateStride: Int,
                                     dMask: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        let isa = ctx.isa
        forSamples(batch, floatsPerSample: n * d, ctx: ctx) { b in
            let off = b * n * d
            Dispatch.gatedResidualBackward(isa, dh + off, ldh: d, x + off, ldx: d, rows: n, d: d, gate: gate + b * gateStride,
                                           rowMask: rowMask.map { $0 + b * n }, dx + off, lddx: d,
                                           dGate: dGate + b * dGateStride, dMask: dMask.map { $0 + b * n })
        }
    }

    /// `sums[j] += Σ_r x[r, j]` (bias gradients), split over threads by columns.
    public static func addColumnSums(_ x: UnsafePointer<Float>, ld: Int? = nil, rows: Int, cols: Int,
                                     into sums: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        let isa = ctx.isa, ld = ld ?? cols
        let chunk = 64
        let chunks = (cols + chunk - 1) / chunk
        if ctx.threadCount == 1 || chunks < 2 || rows * cols < Ops.parallelThreshold {
            Dispatch.addColumnSums(isa, x, ld: ld, rows: rows, cols: cols, into: sums)
            return
        }
        ctx.pool.run(tasks: chunks) { c, _ in
            let j = c * chunk
            Dispatch.addColumnSums(isa, x + j, ld: ld, rows: rows, cols: min(chunk, cols - j), into: sums + j)
        }
    }
}
