import CSupport
import DyDiTKernelABI
import DyDiTKernelsBF16

/// bfloat16: the upper half of an fp32, rounded to nearest even (NaN kept a quiet NaN).
public enum BFloat16 {
    @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: (b >> 16) | 0x40) }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    @inline(__always)
    public static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// `x` rounded to bf16 and back.
    @inline(__always)
    public static func rounded(_ x: Float) -> Float { float(bits(x)) }

    /// Two consecutive k in one word, the lower k in the low half (what `vdpbf16ps` pairs).
    @inline(__always)
    static func pair(_ lo: Float, _ hi: Float) -> UInt32 { UInt32(bits(lo)) | UInt32(bits(hi)) << 16 }
}

/// Weights `[n, k]` rounded to bf16, packed in panels of 16 columns laid out `[kPair][16]`
/// words (two consecutive k of one column per 32-bit lane, as `vdpbf16ps` reads them, and one
/// AMX B-tile row per k-pair), K padded with zeros to a multiple of 32 (AMX's step).
public final class BF16Matrix: @unchecked Sendable {
    public let n: Int
    public let k: Int
    public var kPairs: Int { (k + 1) / 2 }
    /// Pairs stored per column: `kPairs` rounded up to 16.
    public var kPairsPadded: Int { (kPairs + 15) / 16 * 16 }
    let packed: AlignedBuffer<UInt32>
    /// Words from one 16-column panel to the next.
    public var panelStride: Int { kPairsPadded * 16 }
    public var panels: Int { (n + 15) / 16 }

    /// Rounds row-major `[n, k]` weights (row stride `ld`, default `k`).
    public init(_ w: UnsafePointer<Float>, n: Int, k: Int, ld: Int? = nil) {
        let ld = ld ?? k
        self.n = n
        self.k = k
        let pairs = (k + 1) / 2, stride = (pairs + 15) / 16 * 16 * 16
        packed = AlignedBuffer(count: max(1, (n + 15) / 16 * stride))
        packed.pointer.update(repeating: 0, count: packed.count)
        for j in 0..<n {
            let row = w + j * ld, panel = packed.pointer + (j / 16) * stride + j % 16
            for p in 0..<pairs {
                panel[p * 16] = BFloat16.pair(row[2 * p], 2 * p + 1 < k ? row[2 * p + 1] : 0)
            }
        }
    }

    public static func rounding(_ w: [Float], n: Int, k: Int) -> BF16Matrix {
        precondition(w.count == n * k, "weights hold \(w.count) values, expected \(n)×\(k)")
        return w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, n: n, k: k) }
    }

    /// The stored weight `(row, column)`.
    public func value(_ row: Int, _ column: Int) -> Float {
        let word = packed.pointer[(row / 16) * panelStride + (column / 2) * 16 + row % 16]
        return BFloat16.float(UInt16(truncatingIfNeeded: column % 2 == 0 ? word : word >> 16))
    }

    public var byteCount: Int { packed.byteCount }

    /// Rows `rows` (output features) and columns `columns` (input features) of this matrix:
    /// DyDiT's sliced weights, from the stored values (rounding a bf16 value again is exact).
    public func sliced(rows: [Int]?, columns: [Int]?) -> BF16Matrix {
        let rs = rows ?? Array(0..<n), cs = columns ?? Array(0..<k)
        var w = [Float](repeating: 0, count: rs.count * cs.count)
        for (i, r) in rs.enumerated() { for (j, c) in cs.enumerated() { w[i * cs.count + j] = value(r, c) } }
        return BF16Matrix.rounding(w, n: rs.count, k: cs.count)
    }
}

/// Activations rounded to bf16 at the product's input, `[paddedRows][kPairsPadded]` words
/// (rows padded with zeros to the tile's multiple: 6, or 32 for AMX; pairs to 16); reused
/// across products (grows, never shrinks).
public final class BF16Activations {
    var values = AlignedBuffer<UInt32>(count: 64)
    public private(set) var rows = 0
    public private(set) var kPairs = 0
    /// Words per row.
    public private(set) var stride = 0
    public private(set) var paddedRows = 0

    public init() {}

    /// `rounding` defaults to the best the context runs (tests pick the others).
    public func round(_ a: UnsafePointer<Float>, rows m: Int, k: Int, lda: Int, rowMultiple: Int = 6, ctx: ComputeContext,
                      rounding: BF16PairRounding? = nil) {
        let rounding = rounding ?? BF16PairRounding.best(for: ctx.isa)
        precondition(rounding.isSupported(), "the \(rounding) bf16 rounding needs instructions this CPU lacks")
        let pairs = (k + 1) / 2, padded = (m + rowMultiple - 1) / rowMultiple * rowMultiple
        let stride = (pairs + 15) / 16 * 16
        if values.count < padded * stride { values = AlignedBuffer(count: padded * stride) }
        rows = m
        kPairs = pairs
        self.stride = stride
        paddedRows = padded
        let q = values.pointer
        let tasks = min(padded, 4 * ctx.threadCount)
        ctx.pool.run(tasks: tasks) { task, _ in
            for r in (task * padded / tasks)..<((task + 1) * padded / tasks) {
                let out = q + r * stride
                guard r < m else {
                    out.update(repeating: 0, count: stride)
                    continue
                }
                let row = a + r * lda
                rounding.round(row, pairs: k / 2, into: out)
                if k % 2 == 1 { out[pairs - 1] = BFloat16.pair(row[k - 1], 0) }
                (out + pairs).update(repeating: 0, count: stride - pairs)
            }
        }
    }

    /// The stored activation `(row, column)`.
    public func value(_ row: Int, _ column: Int) -> Float {
        let word = values.pointer[row * stride + column / 2]
        return BFloat16.float(UInt16(truncatingIfNeeded: column % 2 == 0 ? word : word >> 16))
    }
}

/// The bf16 product's tiles: AMX (`tdpbf16ps` on 16×16 tiles), AVX512_BF16 (`vdpbf16ps`), or
/// the fallback tile of the context's ISA build (fp32 arithmetic in `vdpbf16ps`'s order).
public enum BF16Path: String, Sendable, CaseIterable {
    case amx, avx512bf16, portable

    /// The best the context's ISA build and this CPU run (`DYDIT_ISA` lowers the ISA, and
    /// with it the path).
    public static func best(for isa: ISA, cpu: CPUFeatures = .current) -> BF16Path {
        guard isa == .avx512 else { return .portable }
        return cpu.amxBF16 ? .amx : cpu.avx512bf16 ? .avx512bf16 : .portable
    }

    /// The 6-row tiles on a context of `isa` (AMX has its own driver): the fallback is each ISA
    /// build's `tile` (`BF16FallbackTile.swift`), so it runs with that build's vectors.
    func kernels(_ isa: ISA) -> any BF16TileKernels.Type {
        switch self {
        case .avx512bf16: return BF16Kernels.self
        case .portable, .amx: return Dispatch.kernels(isa)
        }
    }

    public func isSupported(by cpu: CPUFeatures = .current) -> Bool {
        switch self {
        case .amx: return cpu.supports(.avx512) && cpu.amxBF16
        case .avx512bf16: return cpu.supports(.avx512) && cpu.avx512bf16
        case .portable: return true
        }
    }
}

extension BF16Path {
    /// A line for a run's log when bf16 products on a context of `isa` take the fallback tile
    /// (nil when they run in hardware): someone choosing bf16 for speed learns that here they
    /// cost more than fp32 products do (1.5× the fp32 GEMM's time on an AVX2-only EPYC,
    /// BENCHMARKS.md) — `what` names them ("the linear layers' products").
    public static func fallbackNote(isa: ISA, what: String, cpu: CPUFeatures = .current) -> String? {
        guard best(for: isa, cpu: cpu) == .portable else { return nil }
        let why = cpu.avx512bf16 || cpu.amxBF16
            ? "the \(isa.rawValue) kernel build was chosen (DYDIT_ISA or --isa), which has no bf16 instructions"
            : "this CPU (\(cpu.brand)) has neither AVX512_BF16 nor AMX-BF16"
        return "note: \(what) run in bf16 on the fallback tile: \(why), so they are slower than fp32 ones, not faster; the arithmetic (bf16 operands, fp32 sums in vdpbf16ps's order) is that of the hardware tiles"
    }
}

extension BF16Path {
    /// The register-only `vdpbf16ps` loop (AVX512_BF16 CPUs only): flops performed (and a value
    /// to keep it alive) — `dydit bench peak --bf16`.
    public static func dotProductPeakLoop(iterations: Int) -> (flops: Double, sink: Float) {
        precondition(BF16Path.avx512bf16.isSupported(), "the vdpbf16ps peak needs AVX512_BF16")
        let sink = BF16Kernels.peakLoop(iterations: iterations, seed: 0x3C00_3C00)
        return (Double(iterations) * 24 * 16 * 4, sink)
    }
}

/// `out = act(bf16(x) · Wᵀ + bias)` with W in bf16: the activations rounded to bf16 at the
/// input, products exact, sums in fp32 (AMX's `tdpbf16ps`, `vdpbf16ps`, or the fallback tile).
public enum BF16Gemm {
    public static func linear(_ x: UnsafePointer<Float>, rows m: Int, ldx: Int? = nil, weight: BF16Matrix,
                              bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                              activation: Activation = .none, workspace: BF16Activations, ctx: ComputeContext,
                              path: BF16Path? = nil) {
        if m == 0 || weight.n == 0 { return }
        let path = path ?? BF16Path.best(for: ctx.isa)
        precondition(path.isSupported(), "the \(path) bf16 path needs instructions this CPU lacks (\(CPUFeatures.current.brand))")
        let tileRows = path == .amx ? 32 : 6
        workspace.round(x, rows: m, k: weight.k, lda: ldx ?? weight.k, rowMultiple: tileRows, ctx: ctx)
        let ldo = ldo ?? weight.n
        let tiles = (m + tileRows - 1) / tileRows, groups = (weight.panels + 3) / 4
        let a = UnsafePointer(workspace.values.pointer), b = UnsafePointer(weight.packed.pointer)
        let kp = weight.kPairs, lda = workspace.stride, stride = weight.panelStride, n = weight.n, totalPanels = weight.panels
        let isa = ctx.isa, kBlocks = Int32(weight.kPairsPadded / 16)
        let kernels = path.kernels(isa)
        // The int8 product's work order: weights reused across rows, rows across groups.
        Int8Gemm.forEachUnit(tiles: tiles, groups: groups, ctx: ctx) { scratch, i, g in
            let tile = scratch.bindMemory(to: Float.self, capacity: tileRows * 64)
            let r0 = i * tileRows, p0 = g * 4, panels = min(4, totalPanels - p0)
            let c0 = p0 * 16, cols = min(n, (p0 + panels) * 16) - c0, rows = min(m, r0 + tileRows) - r0
            if path == .amx {
                dydit_amx_bf16_rows32(kBlocks, a + r0 * lda, lda, b + p0 * stride, stride, Int32(panels), tile, 64)
            } else {
                kernels.tile(kPairs: kp, a: a + r0 * lda, lda: lda, b: b + p0 * stride, panelStride: stride, panels: panels,
                             out: tile, ldo: 64)
            }
            let dst = out + r0 * ldo + c0
            for r in 0..<rows { (dst + r * ldo).update(from: tile + r * 64, count: cols) }
            Dispatch.epilogue(isa, dst, ldc: ldo, rows: rows, cols: cols, bias: bias.map { $0 + c0 }, activation: activation)
        }
    }
}
