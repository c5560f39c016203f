// Element-wise and row-wise float kernels (shared template, compiled once per ISA).

import DyDiTKernelABI

/// Lane-wise minimum and maximum as compare + blend. The standard library's
/// `pointwiseMin`/`pointwiseMax` (and so `clamped`) go lane by lane for floats.
@inline(__always) func vmin(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }
@inline(__always) func vmax(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .> a) }

/// e^x for every lane: Cephes' expf (range reduction by ln 2 in two parts, degree-5
/// polynomial, times 2ⁿ); within 2 ulp on [-87, 88], clamped outside. The rounding and the
/// power of two come from the ISA build (single instructions on AVX-512, bit tricks
/// elsewhere; both round ties to even and scale exactly).
@_transparent func vexp(_ xIn: V) -> V {
    let x0 = vmin(vmax(xIn, V(repeating: -87.33654)), V(repeating: 88.72283))
    let n = roundedToNearest(x0 * V(repeating: 1.442695041))
    var r = madd(n, V(repeating: -0.693359375), x0)
    r = madd(n, V(repeating: 2.12194440e-4), r)
    var y = V(repeating: 1.9875691500e-4)
    y = madd(y, r, V(repeating: 1.3981999507e-3))
    y = madd(y, r, V(repeating: 8.3334519073e-3))
    y = madd(y, r, V(repeating: 4.1665795894e-2))
    y = madd(y, r, V(repeating: 1.6666665459e-1))
    y = madd(y, r, V(repeating: 5.0000001201e-1))
    y = madd(y, r * r, r + V(repeating: 1))
    return timesPowerOfTwo(y, n)
}

/// tanh through e^(2x): `1 − 2 / (e^(2x) + 1)`, exact at both saturations.
@_transparent func vtanh(_ x: V) -> V {
    let e = vexp(x + x)
    return V(repeating: 1) - V(repeating: 2) / (e + V(repeating: 1))
}

/// GELU, tanh form: PyTorch's `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as the
/// equal `x·sigmoid(2u)` = `x / (1 + e^(−2u))`, which has no cancellation where tanh ≈ −1 and
/// needs one reciprocal instead of a division. e^(−2u) is clamped below e^80 (the result is
/// then below 10⁻³⁴·x either way) so the reciprocal's operand stays finite.
@_transparent func vgelu(_ x: V) -> V {
    let u = V(repeating: 0.7978845608028654) * (x + V(repeating: 0.044715) * x * x * x)
    return x * reciprocal(V(repeating: 1) + vexp(vmin(-(u + u), V(repeating: 80))))
}

/// SiLU: `x / (1 + e^(−x))`, with the same clamp and reciprocal as `vgelu`.
@_transparent func vsilu(_ x: V) -> V {
    x * reciprocal(V(repeating: 1) + vexp(vmin(-x, V(repeating: 80))))
}

@_transparent func vactivate(_ v: V, _ activation: Activation) -> V {
    switch activation {
    case .none: return v
    case .gelu: return vgelu(v)
    case .silu: return vsilu(v)
    case .relu: return v.replacing(with: 0, where: v .< 0)
    }
}

/// Calls `body` with `activation` as a constant in each branch: the loop in `body`, inlined
/// once per activation, keeps its function inline instead of a jump table per vector.
@inline(__always) func withConstant(_ activation: Activation, _ body: (Activation) -> Void) {
    switch activation {
    case .none: body(.none)
    case .gelu: body(.gelu)
    case .silu: body(.silu)
    case .relu: body(.relu)
    }
}

extension ISAKernels {
    /// Adds `bias[0..<cols]` (if any) to each of `rows` rows of `c`, then applies `activation`.
    public static func epilogue(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                                bias: UnsafePointer<Float>?, activation: Activation) {
        if bias == nil && activation == .none { return }
        withConstant(activation) { epilogueRows(c, ldc: ldc, rows: rows, cols: cols, bias: bias, activation: $0) }
    }

    @inline(__always)
    static func epilogueRows(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                             bias: UnsafePointer<Float>?, activation: Activation) {
        let w = V.scalarCount
        for r in 0..<rows {
            let row = c + r * ldc
            var j = 0
            while j + w <= cols {
                var v = load(row + j)
                if let bias { v += load(bias + j) }
                store(vactivate(v, activation), row + j)
                j += w
            }
            if j < cols {
                var v = loadPartial(row + j, cols - j)
                if let bias { v += loadPartial(bias + j, cols - j) }
                storePartial(vactivate(v, activation), row + j, cols - j)
            }
        }
    }

    /// `x[i] = activation(x[i])` for `count` contiguous floats.
    public static func activate(_ x: UnsafeMutablePointer<Float>, count: Int, _ activation: Activation) {
        epilogue(x, ldc: count, rows: 1, cols: count, bias: nil, activation: activation)
    }

    /// adaLN's `LayerNorm(x)·(1 + scale) + shift` (no affine, biased variance, `eps` inside
    /// the square root) for `rows` rows of width `d`. Row `r` belongs to group
    /// `(r + rowOffset) / rowsPerGroup` (the sample), whose shift and scale start at
    /// `shift + group·modStride`, `scale + group·modStride`; nil means zero.
    public static func layerNormModulate(_ x: UnsafePointer<Float>, ldx: Int,
                                         _ y: UnsafeMutablePointer<Float>, ldy: Int,
                                         rows: Int, d: Int, eps: Float,
                                         shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                         modStride: Int, rowsPerGroup: Int, rowOffset: Int) {
        let tailMask = laneMask(d % V.scalarCount)
        for r in 0..<rows {
            let group = (r + rowOffset) / rowsPerGroup
            normalizeRow(x + r * ldx, y + r * ldy, d: d, eps: eps, shift: shift.map { $0 + group * modStride },
                         scale: scale.map { $0 + group * modStride }, tailMask: tailMask)
        }
    }

    /// `layerNormModulate` on gathered rows: output row `i` normalises `x[rowIndex[i]]` with
    /// the modulation of group `rowGroup[i]` (DyDiT's token gather: each selected token keeps
    /// its own sample's shift and scale).
    public static func layerNormModulateGathered(_ x: UnsafePointer<Float>, ldx: Int, rowIndex: UnsafePointer<Int32>,
                                                 rowGroup: UnsafePointer<Int32>,
                                                 _ y: UnsafeMutablePointer<Float>, ldy: Int, count: Int, d: Int, eps: Float,
                                                 shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?, modStride: Int) {
        let tailMask = laneMask(d % V.scalarCount)
        for i in 0..<count {
            let group = Int(rowGroup[i])
            normalizeRow(x + Int(rowIndex[i]) * ldx, y + i * ldy, d: d, eps: eps, shift: shift.map { $0 + group * modStride },
                         scale: scale.map { $0 + group * modStride }, tailMask: tailMask)
        }
    }

    @inline(__always)
    static func normalizeRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, d: Int, eps: Float,
                             shift sh: UnsafePointer<Float>?, scale sc: UnsafePointer<Float>?,
                             tailMask: SIMDMask<VInt.MaskStorage>) {
        let w = V.scalarCount
        let (mean, rstdValue) = rowStatistics(src, d: d, eps: eps, tailMask: tailMask)
        let vmean = V(repeating: mean), rstd = V(repeating: rstdValue)
        var j = 0
        while j < d {
            let n = min(w, d - j)
            let v = n == w ? load(src + j) : loadPartial(src + j, n)
            var out = (v - vmean) * rstd
            if let sc {
                let s = n == w ? load(sc + j) : loadPartial(sc + j, n)
                out = out * (V(repeating: 1) + s)
            }
            if let sh { out += n == w ? load(sh + j) : loadPartial(sh + j, n) }
            if n == w { store(out, dst + j) } else { storePartial(out, dst + j, n) }
            j += w
        }
    }

    /// A row's mean and `1/√(variance + eps)` (biased variance) as LayerNorm takes them, in two
    /// passes (the mean, then the squared deviations, so a large mean does not cancel). Four
    /// running sums per pass and a tree for the lanes: with one sum, each pass was a chain of
    /// dependent adds (3–4 cycles a vector) and the lanes were added one after another.
    /// `tailMask` selects the `d % V.scalarCount` lanes of the last partial vector.
    @inline(__always)
    static func rowStatistics(_ src: UnsafePointer<Float>, d: Int, eps: Float,
                              tailMask: SIMDMask<VInt.MaskStorage>) -> (mean: Float, rstd: Float) {
        let w = V.scalarCount, w4 = 4 &* V.scalarCount
        let full = d / w &* w, tail = d &- full
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var j = 0
        while j &+ w4 <= full {
            a0 += load(src + j); a1 += load(src + (j &+ w))
            a2 += load(src + (j &+ 2 &* w)); a3 += load(src + (j &+ 3 &* w))
            j &+= w4
        }
        while j < full { a0 += load(src + j); j &+= w }
        if tail > 0 { a1 += loadPartial(src + full, tail) }
        let mean = horizontalSum((a0 + a1) + (a2 + a3)) / Float(d)
        let vmean = V(repeating: mean)
        a0 = V(); a1 = V(); a2 = V(); a3 = V()
        j = 0
        while j &+ w4 <= full {
            let t0 = load(src + j) - vmean, t1 = load(src + (j &+ w)) - vmean
            let t2 = load(src + (j &+ 2 &* w)) - vmean, t3 = load(src + (j &+ 3 &* w)) - vmean
            a0 = madd(t0, t0, a0); a1 = madd(t1, t1, a1); a2 = madd(t2, t2, a2); a3 = madd(t3, t3, a3)
            j &+= w4
        }
        while j < full { let t = load(src + j) - vmean; a0 = madd(t, t, a0); j &+= w }
        if tail > 0 {
            let t = (loadPartial(src + full, tail) - vmean).replacing(with: 0, where: .!tailMask)
            a1 = madd(t, t, a1)
        }
        let variance = horizontalSum((a0 + a1) + (a2 + a3)) / Float(d)
        return (mean, 1 / (variance + eps).squareRoot())
    }

    /// Row-wise softmax of `scale · s` in place, for `rows` rows of `cols` values.
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int,
                                   scale: Float) {
        let w = V.scalarCount
        let full = cols / w * w
        let tail = cols - full
        for r in 0..<rows {
            let row = s + r * ld
            let sum = expShiftedRow(row, full: full, tail: tail, scale: scale,
                                    shift: rowMaximum(row, full: full, cols: cols) * scale)
            let inv = V(repeating: 1 / sum)
            var j = 0
            while j < full { store(load(row + j) * inv, row + j); j += w }
            if tail > 0 { storePartial(loadPartial(row + full, tail) * inv, row + full, tail) }
        }
    }

    /// The largest of a row's `cols` raw values (`full` of them in whole vectors). Four running
    /// maxima, so the pass is not one chain of dependent compares.
    @inline(__always)
    static func rowMaximum(_ row: UnsafePointer<Float>, full: Int, cols: Int) -> Float {
        let w = V.scalarCount
        var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0
        var j = 0
        while j &+ 4 &* w <= full {
            m0 = vmax(m0, load(row + j)); m1 = vmax(m1, load(row + (j &+ w)))
            m2 = vmax(m2, load(row + (j &+ 2 &* w))); m3 = vmax(m3, load(row + (j &+ 3 &* w)))
            j &+= 4 &* w
        }
        while j < full { m0 = vmax(m0, load(row + j)); j &+= w }
        var m = horizontalMax(vmax(vmax(m0, m1), vmax(m2, m3)))
        for t in full..<cols { m = Swift.max(m, row[t]) }
        return m
    }

    /// Replaces a row's values `x` by `exp(scale·x − shift)` and returns their sum: the one
    /// exponential pass of both softmaxes, so a single tile of the online form gives exactly
    /// the plain form's numerators. The sum's lanes are added as a tree: Swift's `sum()` adds
    /// them one after another, sixteen dependent adds per row (softmax alone 1.11× faster with
    /// the tree, the four maxima and scalar arguments, which travel in one register each where a
    /// vector argument of this not-inlined call took four).
    @inline(__always)
    static func expShiftedRow(_ row: UnsafeMutablePointer<Float>, full: Int, tail: Int, scale: Float,
                              shift: Float) -> Float {
        let w = V.scalarCount
        let vscale = V(repeating: scale), vshift = V(repeating: shift)
        var acc = V()
        var j = 0
        while j < full {
            let e = vexp(madd(load(row + j), vscale, -vshift))
            store(e, row + j)
            acc += e
            j += w
        }
        if tail > 0 {
            let e = vexp(madd(loadPartial(row + full, tail), vscale, -vshift))
                .replacing(with: 0, where: .!laneMask(tail))
            storePartial(e, row + full, tail)
            acc += e
        }
        return horizontalSum(acc)
    }

    /// One key tile of the online softmax (FlashAttention's running form, Milakov & Gimelshein
    /// 2018): for each of `rows` rows of raw scores `s` (`cols` values, row stride `ld`), with
    /// `rowMax[r]` the largest `scale·s` of the row's earlier tiles (−∞ before the first) and
    /// `rowSum[r]` the sum of their `exp(scale·s − rowMax)` (0 before the first), replaces the scores by
    /// `exp(scale·s − m)` where `m` is the new running maximum, writes to `alpha[r]` the factor
    /// `exp(old max − m)` by which the earlier tiles' sum and output shrink (0 on the first tile),
    /// and updates `rowMax` and `rowSum`. `scale` must be positive. The exponentials are
    /// `softmaxRows`' own (same shift, same polynomial), so a single tile gives its numerators.
    public static func onlineSoftmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float,
                                         rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                                         alpha: UnsafeMutablePointer<Float>) {
        let w = V.scalarCount
        let full = cols / w * w
        let tail = cols - full
        for r in 0..<rows {
            let row = s + r * ld
            let old = rowMax[r]
            let m = Swift.max(old, rowMaximum(row, full: full, cols: cols) * scale)
            // −∞ before the first tile: nothing earlier to scale (and −∞ − −∞ would be NaN).
            let a: Float = old == -.infinity ? 0 : vexp(V(repeating: old - m))[0]
            let sum = expShiftedRow(row, full: full, tail: tail, scale: scale, shift: m)
            alpha[r] = a
            rowMax[r] = m
            rowSum[r] = rowSum[r] * a + sum
        }
    }

    /// `h[r] += m[r] · gate[group(r)] ⊙ x[r]` for `rows` rows of width `d` (adaLN-Zero's gated
    /// residual; `m` is DyDiT's token mask, 1 when nil; rows with m = 0 are left untouched);
    /// group and stride as in `layerNormModulate`.
    public static func gatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int,
                                     _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int,
                                     gate: UnsafePointer<Float>, gateStride: Int, rowsPerGroup: Int,
                                     rowOffset: Int, rowMask: UnsafePointer<Float>?) {
        for r in 0..<rows {
            let m = rowMask?[r] ?? 1
            if m == 0 { continue }
            residualRow(h + r * ldh, x + r * ldx, gate + ((r + rowOffset) / rowsPerGroup) * gateStride, m, d)
        }
    }

    /// The scatter of DyDiT's token gather: `h[rowIndex[i]] += gate[rowGroup[i]] ⊙ x[i]`.
    public static func scatterGatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int,
                                            _ x: UnsafePointer<Float>, ldx: Int, count: Int, d: Int,
                                            gate: UnsafePointer<Float>, gateStride: Int,
                                            rowIndex: UnsafePointer<Int32>, rowGroup: UnsafePointer<Int32>) {
        for i in 0..<count {
            residualRow(h + Int(rowIndex[i]) * ldh, x + i * ldx, gate + Int(rowGroup[i]) * gateStride, 1, d)
        }
    }

    @inline(__always)
    static func residualRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                            _ m: Float, _ d: Int) {
        let w = V.scalarCount
        let scale = V(repeating: m)
        var j = 0
        while j + w <= d {
            let gv = m == 1 ? load(g + j) : load(g + j) * scale
            store(madd(gv, load(src + j), load(dst + j)), dst + j)
            j += w
        }
        if j < d {
            let n = d - j
            let gv = m == 1 ? loadPartial(g + j, n) : loadPartial(g + j, n) * scale
            storePartial(madd(gv, loadPartial(src + j, n), loadPartial(dst + j, n)), dst + j, n)
        }
    }
}

extension ISAKernels {
    /// Independent multiply-add chains of `peakLoop`: 24 where 32 registers hold them and the
    /// two operands; 12 (each advanced twice a round) where there are 16 — 24 chains there
    /// spilled to the stack and the loop timed stores, not FMAs (half the AVX2 peak). 12 still
    /// cover FMA latency × issue width (4 cycles × 2 pipes on Zen 3, Skylake).
    public static var peakChains: Int { vectorRegisters >= 32 ? 24 : 12 }

    /// `iterations` rounds of 24 vector multiply-adds on registers only, in `peakChains`
    /// independent chains: the arithmetic peak of one core for this build (2·24·lanes flops
    /// per round).
    @inline(never)
    public static func peakLoop(iterations: Int, seed: Float) -> Float {
        peakChains == 24 ? peakLoop24(iterations: iterations, seed: seed) : peakLoop12(iterations: iterations, seed: seed)
    }

    @inline(never)
    static func peakLoop24(iterations: Int, seed: Float) -> Float {
        let a = V(repeating: 1.000_000_1), b = V(repeating: seed * 1e-7)
        var r0 = V(repeating: seed), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0
        var r8 = r0, r9 = r0, r10 = r0, r11 = r0, r12 = r0, r13 = r0, r14 = r0, r15 = r0
        var r16 = r0, r17 = r0, r18 = r0, r19 = r0, r20 = r0, r21 = r0, r22 = r0, r23 = r0
        for _ in 0..<iterations {
            r0 = madd(r0, a, b); r1 = madd(r1, a, b); r2 = madd(r2, a, b); r3 = madd(r3, a, b)
            r4 = madd(r4, a, b); r5 = madd(r5, a, b); r6 = madd(r6, a, b); r7 = madd(r7, a, b)
            r8 = madd(r8, a, b); r9 = madd(r9, a, b); r10 = madd(r10, a, b); r11 = madd(r11, a, b)
            r12 = madd(r12, a, b); r13 = madd(r13, a, b); r14 = madd(r14, a, b); r15 = madd(r15, a, b)
            r16 = madd(r16, a, b); r17 = madd(r17, a, b); r18 = madd(r18, a, b); r19 = madd(r19, a, b)
            r20 = madd(r20, a, b); r21 = madd(r21, a, b); r22 = madd(r22, a, b); r23 = madd(r23, a, b)
        }
        let s = r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7 + r8 + r9 + r10 + r11
            + r12 + r13 + r14 + r15 + r16 + r17 + r18 + r19 + r20 + r21 + r22 + r23
        return s.sum()
    }

    @inline(never)
    static func peakLoop12(iterations: Int, seed: Float) -> Float {
        let a = V(repeating: 1.000_000_1), b = V(repeating: seed * 1e-7)
        var r0 = V(repeating: seed), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0
        var r6 = r0, r7 = r0, r8 = r0, r9 = r0, r10 = r0, r11 = r0
        for _ in 0..<iterations {
            for _ in 0..<2 {  // unrolled by the compiler: 24 multiply-adds a round
                r0 = madd(r0, a, b); r1 = madd(r1, a, b); r2 = madd(r2, a, b); r3 = madd(r3, a, b)
                r4 = madd(r4, a, b); r5 = madd(r5, a, b); r6 = madd(r6, a, b); r7 = madd(r7, a, b)
                r8 = madd(r8, a, b); r9 = madd(r9, a, b); r10 = madd(r10, a, b); r11 = madd(r11, a, b)
            }
        }
        let s = r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7 + r8 + r9 + r10 + r11
        return s.sum()
    }

    /// Lanes of one vector register in this build.
    public static var lanes: Int { V.scalarCount }
}
