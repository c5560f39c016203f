/// How packed weights are stored; the arithmetic is fp32 either way.
public enum WeightPrecision: String, Sendable, CaseIterable {
    case fp32
    /// IEEE half (round to nearest even), widened to float in the micro-kernel.
    case fp16
    /// Symmetric int8 per output channel (`Int8Matrix`), activations quantized per row.
    case int8
    /// bfloat16 weights (`BF16Matrix`), activations rounded to bf16 at each product's input,
    /// fp32 sums (AMX or AVX512_BF16 where the CPU has them).
    case bf16
}

/// A weight matrix `[n, k]` (PyTorch's `[out, in]`) packed once, at load time, into the
/// panel layout of one ISA's GEMM, so no multiplication repacks it; in fp32 or fp16.
public final class PackedMatrix: @unchecked Sendable {
    public let n: Int
    public let k: Int
    public let isa: ISA
    public let precision: WeightPrecision
    let floats: AlignedBuffer<Float>?
    let halves: AlignedBuffer<Float16>?

    /// Packs row-major `[n, k]` weights with row stride `ld` (default `k`), rounded to
    /// `precision`.
    public init(_ weights: UnsafePointer<Float>, n: Int, k: Int, ld: Int? = nil, isa: ISA, precision: WeightPrecision = .fp32) {
        self.n = n
        self.k = k
        self.isa = isa
        self.precision = precision
        let count = Dispatch.packedWeightCount(isa, n: n, k: k)
        let packed = AlignedBuffer<Float>(count: count)
        Dispatch.packWeights(isa, weights, n: n, k: k, ld: ld ?? k, into: packed.pointer)
        switch precision {
        case .fp32:
            floats = packed
            halves = nil
        case .int8, .bf16:
            preconditionFailure("\(precision) weights are an Int8Matrix or a BF16Matrix, not a PackedMatrix")
        case .fp16:
            let h = AlignedBuffer<Float16>(count: count)
            for i in 0..<count { h.pointer[i] = Float16(packed.pointer[i]) }
            floats = nil
            halves = h
        }
    }

    /// Packs row-major `[n, k]` half weights as they are (a quantized file's fp16 layer): no
    /// fp32 copy is made and no value changes.
    public init(halves weights: UnsafePointer<Float16>, n: Int, k: Int, isa: ISA) {
        self.n = n
        self.k = k
        self.isa = isa
        precision = .fp16
        let nr = Dispatch.tile(isa).nr
        let h = AlignedBuffer<Float16>(count: Dispatch.packedWeightCount(isa, n: n, k: k))
        for row in 0..<n {
            for column in 0..<k { h.pointer[Self.panelIndex(row, column, k: k, nr: nr)] = weights[row * k + column] }
        }
        floats = nil
        halves = h
    }

    public static func packing(_ weights: [Float], n: Int, k: Int, isa: ISA, precision: WeightPrecision = .fp32) -> PackedMatrix {
        precondition(weights.count == n * k, "weights hold \(weights.count) values, expected \(n)×\(k)")
        return weights.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, n: n, k: k, isa: isa, precision: precision) }
    }

    /// The element `(row, column)` of the stored `[n, k]` matrix (after rounding to the precision).
    public func element(_ row: Int, _ column: Int) -> Float {
        let i = Self.panelIndex(row, column, k: k, nr: Dispatch.tile(isa).nr)
        return floats.map { $0.pointer[i] } ?? Float(halves!.pointer[i])
    }

    /// Where `(row, column)` of an `[n, k]` matrix lives in `packWeights`' panel layout.
    @inline(__always)
    static func panelIndex(_ row: Int, _ column: Int, k: Int, nr: Int) -> Int {
        (row / nr) * k * nr + column * nr + row % nr
    }

    /// The matrix made of rows `rows` (output features, in that order) and columns `columns`
    /// (input features; nil = all) of this one, packed for the same ISA and precision: DyDiT's
    /// sliced weights, read from the packed copy so no fp32 original has to be kept (fp16
    /// values are copied exactly: nothing is rounded again).
    public func sliced(rows: [Int]?, columns: [Int]?) -> PackedMatrix {
        let rs = rows ?? Array(0..<n), cs = columns ?? Array(0..<k)
        var dense = [Float](repeating: 0, count: rs.count * cs.count)
        dense.withUnsafeMutableBufferPointer { out in
            for (i, r) in rs.enumerated() {
                let row = out.baseAddress! + i * cs.count
                for (j, c) in cs.enumerated() { row[j] = element(r, c) }
            }
        }
        return PackedMatrix.packing(dense, n: rs.count, k: cs.count, isa: isa, precision: precision)
    }

    /// Bytes held by the packed copy.
    public var byteCount: Int { floats?.byteCount ?? halves!.byteCount }

    /// The panels and their layout, for `GemmOperands` (halves for fp16).
    public var operand: (b: UnsafeRawPointer, layout: RightOperandLayout) {
        if let floats { return (UnsafeRawPointer(floats.pointer), .packed) }
        return (UnsafeRawPointer(halves!.pointer), .packedHalf)
    }
}

/// Multithreaded SGEMM on the context's ISA build.
public enum Gemm {
    /// Rows per task before balancing: about one packed row block of the kernels.
    static let rowBlock = 144
    /// Above this size a right operand is treated as streaming from memory (public for the
    /// test that covers that split).
    public static let cachedWeightBytes = 8 << 20

    /// Computes `p` on all threads of `ctx`. The split into tasks never changes the result.
    public static func run(_ p: GemmOperands, ctx: ComputeContext) {
        if p.m == 0 || p.n == 0 { return }
        let isa = ctx.isa
        let nr = Dispatch.tile(isa).nr
        let threads = ctx.threadCount
        if threads == 1 {
            Dispatch.gemm(isa, p, rows: 0..<p.m, cols: 0..<p.n, scratch: ctx.gemmScratch(thread: 0))
            return
        }
        let (rowBlocks, rowsPerBlock, colChunks) = taskGrid(m: p.m, n: p.n, k: p.k, isa: isa, threads: threads)
        let panels = (p.n + nr - 1) / nr
        ctx.pool.run(tasks: rowBlocks * colChunks) { task, thread in
            let rb = task / colChunks, cb = task % colChunks
            let rows = min(p.m, rb * rowsPerBlock)..<min(p.m, (rb + 1) * rowsPerBlock)
            let cols = min(p.n, cb * panels / colChunks * nr)..<min(p.n, (cb + 1) * panels / colChunks * nr)
            Dispatch.gemm(isa, p, rows: rows, cols: cols, scratch: ctx.gemmScratch(thread: thread))
        }
    }

    /// How `run` cuts an m × n × k product into tasks: `rowBlocks` blocks of `rowsPerBlock` rows
    /// (whole register tiles) times `colChunks` runs of whole panels.
    ///
    /// Balanced pieces, about four per thread, so that uneven pieces (and a core slowed by a
    /// neighbour on this shared machine) even out. Measured against fewer, taller pieces and
    /// against traffic-minimising shapes, in the same process: none was faster in the DiT-S
    /// forward, and this one scales best on the isolated GEMM. Weights too large to stay in
    /// cache (DiT-XL's 16–21 MB layers) are split by columns only, so each weight is read from
    /// memory once per product instead of once per row block.
    public static func taskGrid(m: Int, n: Int, k: Int, isa: ISA, threads: Int) -> (rowBlocks: Int, rowsPerBlock: Int, colChunks: Int) {
        let (mr, nr) = Dispatch.tile(isa)
        let panels = (n + nr - 1) / nr
        let streamsWeights = n * k * MemoryLayout<Float>.stride > cachedWeightBytes
        let rowBlocks = streamsWeights ? 1 : (m + rowBlock - 1) / rowBlock
        let rowsPerBlock = ((m + mr - 1) / mr + rowBlocks - 1) / rowBlocks * mr
        var colChunks = min(panels, max(1, (threads * 4 + rowBlocks - 1) / rowBlocks))
        // A whole number of tasks per thread: three row blocks (DyDiT's MLP on ~300 gathered
        // rows) made nine tasks, so one of two threads ran five while the other waited (the MLP
        // at 3.08 of its 3.33 MAC ratio in `bench forward --profile`, 3.25 after; BENCHMARKS.md).
        while (rowBlocks * colChunks) % threads != 0 && colChunks < panels { colChunks += 1 }
        return (rowBlocks, rowsPerBlock, colChunks)
    }

    /// Computes `p` on the calling thread only, with thread `thread`'s scratch: for GEMMs
    /// inside a parallel region (one attention head per task, say).
    public static func runSerial(_ p: GemmOperands, ctx: ComputeContext, thread: Int) {
        Dispatch.gemm(ctx.isa, p, rows: 0..<p.m, cols: 0..<p.n, scratch: ctx.gemmScratch(thread: thread))
    }

    /// `out[m, n] = act(x[m, k] · Wᵀ + bias)` (`+ out` first when `accumulate`) with packed W.
    public static func linear(_ x: UnsafePointer<Float>, rows m: Int, ldx: Int? = nil,
                              weight: PackedMatrix, bias: UnsafePointer<Float>?,
                              out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                              activation: Activation = .none, accumulate: Bool = false,
                              ctx: ComputeContext) {
        precondition(weight.isa == ctx.isa, "weights packed for \(weight.isa) used with \(ctx.isa) kernels")
        let (b, layout) = weight.operand
        let p = GemmOperands(m: m, n: weight.n, k: weight.k, a: x, lda: ldx ?? weight.k,
                             b: b, ldb: weight.k, bLayout: layout,
                             c: out, ldc: ldo ?? weight.n, accumulate: accumulate,
                             bias: bias, activation: activation)
        run(p, ctx: ctx)
    }
}
