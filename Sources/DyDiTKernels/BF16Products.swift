import CSupport
import DyDiTKernelABI
import DyDiTKernelsBF16

/// The general bf16 product, `GemmOperands`'s contract with both operands rounded to bf16 at
/// the input and the sums in fp32: mixed-precision training's products (`"products": "bf16"`),
/// where the weights change after every step and the backward reads its operands transposed
/// (`dW = dyᵀ·x`, `dx = dy·W`), so neither operand can be packed once as in inference.
///
/// Both operands are rounded into the layouts of `BF16Gemm.linear` per call: A as rows of
/// k-pairs `[paddedRows][kPairsPadded]`, B as panels of 16 columns `[panel][kPair][16]`.
/// Operands read transposed go through 16×16 word transposes. `vector: false` builds the same
/// words one at a time from `BFloat16.pair` — the definition the vector packing is tested on.
public final class BF16ProductBuffers {
    var a = AlignedBuffer<UInt32>(count: 64)
    var b = AlignedBuffer<UInt32>(count: 64)

    public init() {}

    /// Bytes held.
    public var byteCount: Int { a.byteCount + b.byteCount }

    func reserve(aWords: Int, bWords: Int) {
        if a.count < aWords { a = AlignedBuffer(count: aWords) }
        if b.count < bWords { b = AlignedBuffer(count: bWords) }
    }
}

extension BF16Gemm {
    /// Words of one packed row of A, and of one k-run of a B panel: K's pairs rounded up to 16.
    @inline(__always)
    static func pairsPadded(k: Int) -> Int { ((k + 1) / 2 + 15) / 16 * 16 }

    /// `C = op(A)·op(B)` (`+ C` with `accumulate`), then `+ bias`, then `activation`, with A and
    /// B rounded to bf16 (`rowsNK` or `rowsKN` B; packed fp32 panels are inference's and have
    /// their own product). Every output element is one unit's full K sum: the result does not
    /// depend on the thread count.
    public static func run(_ p: GemmOperands, buffers: BF16ProductBuffers, ctx: ComputeContext, path: BF16Path? = nil,
                           vector: Bool? = nil) {
        if p.m == 0 || p.n == 0 { return }
        precondition(p.bLayout == .rowsNK || p.bLayout == .rowsKN, "the bf16 product reads B as rows, not \(p.bLayout)")
        let path = path ?? BF16Path.best(for: ctx.isa)
        precondition(path.isSupported(), "the \(path) bf16 path needs instructions this CPU lacks (\(CPUFeatures.current.brand))")
        let vector = vector ?? (ctx.isa == .avx512 && CPUFeatures.current.supports(.avx512))
        precondition(!vector || CPUFeatures.current.supports(.avx512), "the vector bf16 packing needs AVX-512")
        let tileRows = path == .amx ? 32 : 6
        let kpp = pairsPadded(k: p.k), paddedRows = (p.m + tileRows - 1) / tileRows * tileRows, panels = (p.n + 15) / 16
        buffers.reserve(aWords: paddedRows * kpp, bWords: panels * kpp * 16)
        packLeft(p, rows: paddedRows, into: buffers.a.pointer, vector: vector, ctx: ctx)
        packRight(p, into: buffers.b.pointer, vector: vector, ctx: ctx)

        let a = UnsafePointer(buffers.a.pointer), b = UnsafePointer(buffers.b.pointer)
        let tiles = paddedRows / tileRows, groups = (panels + 3) / 4, stride = kpp * 16
        let isa = ctx.isa, kernels = path.kernels(isa), kBlocks = Int32(kpp / 16)
        Int8Gemm.forEachUnit(tiles: tiles, groups: groups, ctx: ctx) { scratch, i, g in
            let tile = scratch.bindMemory(to: Float.self, capacity: tileRows * 64)
            let r0 = i * tileRows, p0 = g * 4, count = min(4, panels - p0)
            let c0 = p0 * 16, cols = min(p.n, (p0 + count) * 16) - c0, rows = min(p.m, r0 + tileRows) - r0
            if path == .amx {
                dydit_amx_bf16_rows32(kBlocks, a + r0 * kpp, kpp, b + p0 * stride, stride, Int32(count), tile, 64)
            } else {
                kernels.tile(kPairs: (p.k + 1) / 2, a: a + r0 * kpp, lda: kpp, b: b + p0 * stride, panelStride: stride, panels: count,
                             out: tile, ldo: 64)
            }
            let dst = p.c + r0 * p.ldc + c0
            for r in 0..<rows {
                let row = dst + r * p.ldc, sums = tile + r * 64
                if p.accumulate { for c in 0..<cols { row[c] += sums[c] } } else { row.update(from: sums, count: cols) }
            }
            if p.bias != nil || p.activation != .none {
                Dispatch.epilogue(isa, dst, ldc: p.ldc, rows: rows, cols: cols, bias: p.bias.map { $0 + c0 },
                                  activation: p.activation)
            }
        }
    }

    /// A 16×16 block of words on its way through a transpose (per thread).
    static let transposeScratchBytes = 16 * 16 * 4

    /// `op(A)` as k-pair rows: `out[r·kpp + q] = pair(A(r, 2q), A(r, 2q + 1))`, zero past M and K.
    public static func packLeft(_ p: GemmOperands, rows paddedRows: Int, into out: UnsafeMutablePointer<UInt32>, vector: Bool,
                                ctx: ComputeContext) {
        let kpp = pairsPadded(k: p.k), m = p.m, k = p.k, lda = p.lda, a = p.a, rounding = BF16PairRounding.best(for: ctx.isa)
        @inline(__always) func element(_ r: Int, _ c: Int) -> Float {
            r < m && c < k ? (p.aTransposed ? a[c * lda + r] : a[r * lda + c]) : 0
        }
        let blocks = (paddedRows + 15) / 16, tasks = min(blocks, 4 * ctx.threadCount)
        ctx.reserveExtraScratch(bytes: transposeScratchBytes)
        ctx.pool.run(tasks: tasks) { task, thread in
            let tmp = ctx.extraScratch(thread: thread).bindMemory(to: UInt32.self, capacity: 256)
            for block in (task * blocks / tasks)..<((task + 1) * blocks / tasks) {
                let r0 = block * 16, r1 = min(paddedRows, r0 + 16)
                if vector && !p.aTransposed {
                    for r in r0..<r1 {
                        let dst = out + r * kpp
                        guard r < m else { dst.update(repeating: 0, count: kpp); continue }
                        rounding.round(a + r * lda, pairs: k / 2, into: dst)
                        if k % 2 == 1 { dst[k / 2] = BFloat16.pair(a[r * lda + k - 1], 0) }
                        let used = (k + 1) / 2
                        (dst + used).update(repeating: 0, count: kpp - used)
                    }
                    continue
                }
                for q0 in stride(from: 0, to: kpp, by: 16) {
                    if vector && r0 + 16 <= m && 2 * (q0 + 16) <= k {
                        // 32 rows of the stored [K, M] A, 16 columns each: pair them, then transpose.
                        for q in 0..<16 {
                            BF16Kernels.interleavePairs(a + 2 * (q0 + q) * lda + r0, a + (2 * (q0 + q) + 1) * lda + r0,
                                                        count: 16, into: tmp + q * 16)
                        }
                        BF16Kernels.transpose16x16(tmp, lds: 16, into: out + r0 * kpp + q0, ldd: kpp)
                    } else {
                        for r in r0..<r1 {
                            for q in q0..<(q0 + 16) { out[r * kpp + q] = BFloat16.pair(element(r, 2 * q), element(r, 2 * q + 1)) }
                        }
                    }
                }
            }
        }
    }

    /// `op(B)` as panels: `out[(j / 16)·kpp·16 + q·16 + j % 16] = pair(B(2q, j), B(2q + 1, j))`,
    /// zero past N and K.
    public static func packRight(_ p: GemmOperands, into out: UnsafeMutablePointer<UInt32>, vector: Bool, ctx: ComputeContext) {
        let kpp = pairsPadded(k: p.k), n = p.n, k = p.k, ldb = p.ldb, b = p.bFloats, nk = p.bLayout == .rowsNK
        let rounding = BF16PairRounding.best(for: ctx.isa)
        @inline(__always) func element(_ kk: Int, _ j: Int) -> Float {
            j < n && kk < k ? (nk ? b[j * ldb + kk] : b[kk * ldb + j]) : 0
        }
        let panels = (n + 15) / 16, tasks = min(panels, 4 * ctx.threadCount)
        ctx.reserveExtraScratch(bytes: transposeScratchBytes)
        ctx.pool.run(tasks: tasks) { task, thread in
            let tmp = ctx.extraScratch(thread: thread).bindMemory(to: UInt32.self, capacity: 256)
            for panel in (task * panels / tasks)..<((task + 1) * panels / tasks) {
                let j0 = panel * 16, dst = out + panel * kpp * 16
                for q0 in stride(from: 0, to: kpp, by: 16) {
                    if vector && j0 + 16 <= n && 2 * (q0 + 16) <= k {
                        if nk {
                            // Sixteen weight rows, 32 k each: round, then transpose into the panel.
                            for j in 0..<16 {
                                rounding.round(b + (j0 + j) * ldb + 2 * q0, pairs: 16, into: tmp + j * 16)
                            }
                            BF16Kernels.transpose16x16(tmp, lds: 16, into: dst + q0 * 16, ldd: 16)
                        } else {
                            for q in q0..<(q0 + 16) {
                                BF16Kernels.interleavePairs(b + 2 * q * ldb + j0, b + (2 * q + 1) * ldb + j0, count: 16,
                                                            into: dst + q * 16)
                            }
                        }
                    } else {
                        for q in q0..<(q0 + 16) {
                            for j in 0..<16 { dst[q * 16 + j] = BFloat16.pair(element(2 * q, j0 + j), element(2 * q + 1, j0 + j)) }
                        }
                    }
                }
            }
        }
    }
}
