import CSupport
import DyDiTKernelsAVX2
import DyDiTKernelsVNNI

/// Weights `[n, k]` in int8: symmetric per output channel (`w ≈ scale[n]·q`, q in ±127, so
/// the AVX2 sign trick cannot saturate), K padded to a multiple of 4, packed in panels of 16
/// columns laid out `[k/4][16][4]` bytes (four consecutive k of one column per 32-bit lane,
/// as `vpdpbusd` and `vpmaddubsw`/`vpmaddwd` consume them), with each column's Σ q for the
/// unsigned-A compensation of VNNI.
public final class Int8Matrix: @unchecked Sendable {
    public let n: Int
    public let k: Int
    public let kPadded: Int
    let scales: AlignedBuffer<Float>
    let columnSums: AlignedBuffer<Int32>
    let packed: AlignedBuffer<Int8>
    /// K as stored: padded with zeros to a multiple of 64, AMX's step (the other tiles read
    /// `kPadded`).
    public var kStored: Int { (k + 63) / 64 * 64 }
    /// Bytes from one 16-column panel to the next.
    public var panelStride: Int { kStored / 4 * 64 }
    public var panels: Int { (n + 15) / 16 }

    /// Quantizes row-major `[n, k]` weights (row stride `ld`, default `k`).
    public convenience init(_ w: UnsafePointer<Float>, n: Int, k: Int, ld: Int? = nil) {
        let (q, rowScales) = Self.quantizeRows(w, n: n, k: k, ld: ld ?? k)
        self.init(quantized: q, scales: rowScales, n: n, k: k)
    }

    /// The rounding every int8 weight goes through (at load time and in `dydit quantize`, so a
    /// quantized file holds exactly what quantizing at load would): row `j` gets
    /// `scale = max|w| / 127` and `q = round(w / scale)`, ties to even, in ±127.
    public static func quantizeRows(_ w: UnsafePointer<Float>, n: Int, k: Int, ld: Int) -> (q: [Int8], scales: [Float]) {
        var q = [Int8](repeating: 0, count: n * k), rowScales = [Float](repeating: 0, count: n)
        for j in 0..<n {
            let row = w + j * ld
            var top: Float = 0
            for i in 0..<k { top = max(top, abs(row[i])) }
            rowScales[j] = top / 127
            let inverse = top > 0 ? 127 / top : 0
            for i in 0..<k { q[j * k + i] = Int8(max(-127, min(127, (row[i] * inverse).rounded(.toNearestOrEven)))) }
        }
        return (q, rowScales)
    }

    /// Already quantized weights `q [n, k]` with their per-row scales (a slice of another
    /// matrix: nothing is rounded again).
    public init(quantized q: [Int8], scales rowScales: [Float], n: Int, k: Int) {
        precondition(q.count == n * k && rowScales.count == n)
        self.n = n
        self.k = k
        kPadded = (k + 3) / 4 * 4
        let panels = (n + 15) / 16
        scales = AlignedBuffer(count: panels * 16)
        columnSums = AlignedBuffer(count: panels * 16)
        let stride = (k + 63) / 64 * 64 / 4 * 64
        packed = AlignedBuffer(count: max(1, panels * stride))
        for j in 0..<n {
            scales.pointer[j] = rowScales[j]
            var sum: Int32 = 0
            let panel = packed.pointer + (j / 16) * stride + (j % 16) * 4
            for i in 0..<k {
                panel[(i / 4) * 64 + i % 4] = q[j * k + i]
                sum += Int32(q[j * k + i])
            }
            columnSums.pointer[j] = sum
        }
    }

    /// Rows `rows` (output features) and columns `columns` (input features) of this matrix,
    /// from its quantized values and scales: DyDiT's sliced weights without re-quantizing.
    public func sliced(rows: [Int]?, columns: [Int]?) -> Int8Matrix {
        let rs = rows ?? Array(0..<n), cs = columns ?? Array(0..<k)
        var q = [Int8](repeating: 0, count: rs.count * cs.count)
        for (i, r) in rs.enumerated() { for (j, c) in cs.enumerated() { q[i * cs.count + j] = value(r, c) } }
        return Int8Matrix(quantized: q, scales: rs.map { scales.pointer[$0] }, n: rs.count, k: cs.count)
    }

    public static func quantizing(_ w: [Float], n: Int, k: Int) -> Int8Matrix {
        precondition(w.count == n * k, "weights hold \(w.count) values, expected \(n)×\(k)")
        return w.withUnsafeBufferPointer { Int8Matrix($0.baseAddress!, n: n, k: k) }
    }

    /// The quantized weight `(row, column)` and its row's scale.
    public func value(_ row: Int, _ column: Int) -> Int8 {
        packed.pointer[(row / 16) * panelStride + (column / 4) * 64 + (row % 16) * 4 + column % 4]
    }

    public func scale(_ row: Int) -> Float { scales.pointer[row] }

    public var byteCount: Int { packed.byteCount + scales.byteCount + columnSums.byteCount }
}

/// The granularity of the activation scales of an int8 product.
public enum Int8ActivationScheme: String, Sendable, CaseIterable {
    /// One scale per row (token): the int32 sums run over all of K.
    case perRow = "token"
    /// One scale per row and block of 32 along K, as ggml's q8_0: each block's int32 sum is
    /// scaled into a float accumulator, which costs an epilogue per block.
    case block32 = "q8_0"

    public static let blockSize = 32
}

/// Activations quantized per row (`a ≈ scale[m]·q`, q in ±127) or per row and block of 32
/// (scales `[block][paddedRows]`), rows padded to a multiple of 6 (32 for AMX) and K to a
/// multiple of 4 (64 for AMX) with zeros; reused across products (grows, never shrinks).
public final class Int8Activations {
    var values = AlignedBuffer<Int8>(count: 64)
    var scales = AlignedBuffer<Float>(count: 8)
    public private(set) var rows = 0
    public private(set) var kPadded = 0
    /// Stored as `q + 128` (q XOR 0x80), the unsigned operand VNNI wants, so its kernel
    /// broadcasts A straight from memory.
    public private(set) var offset = false

    public init() {}

    public private(set) var paddedRows = 0
    /// K per scale: all of it (per row) or 32.
    public private(set) var blockSize = 0

    public func quantize(_ a: UnsafePointer<Float>, rows m: Int, k: Int, lda: Int, unsigned: Bool = false,
                         scheme: Int8ActivationScheme = .perRow, amx: Bool = false, ctx: ComputeContext) {
        precondition(!amx || scheme == .perRow, "the AMX int8 product takes per-row activation scales")
        let kAlign = amx ? 64 : 4, rowAlign = amx ? 32 : 6
        let kp = (k + kAlign - 1) / kAlign * kAlign, padded = (m + rowAlign - 1) / rowAlign * rowAlign
        let block = scheme == .perRow ? kp : Int8ActivationScheme.blockSize, blocks = (kp + block - 1) / block
        if values.count < padded * kp { values = AlignedBuffer(count: padded * kp) }
        if scales.count < padded * blocks { scales = AlignedBuffer(count: padded * blocks) }
        rows = m
        kPadded = kp
        paddedRows = padded
        blockSize = block
        offset = unsigned
        let q = values.pointer, s = scales.pointer
        ctx.pool.run(tasks: min(padded, 4 * ctx.threadCount)) { task, _ in
            let first = task * padded / min(padded, 4 * ctx.threadCount)
            let end = (task + 1) * padded / min(padded, 4 * ctx.threadCount)
            for r in first..<end {
                let out = q + r * kp
                guard r < m else {
                    out.update(repeating: unsigned ? -128 : 0, count: kp)
                    for b in 0..<blocks { s[b * padded + r] = 0 }
                    continue
                }
                for b in 0..<blocks {
                    let k0 = b * block
                    s[b * padded + r] = Dispatch.quantizeRow(ctx.isa, a + r * lda + k0, k: min(block, k - k0),
                                                             kPadded: min(block, kp - k0), into: out + k0)
                }
                if unsigned { Self.flipSigns(out, count: kp) }
            }
        }
    }

    /// XOR 0x80 on every byte, eight at a time.
    static func flipSigns(_ p: UnsafeMutablePointer<Int8>, count: Int) {
        let raw = UnsafeMutableRawPointer(p)
        var i = 0
        while i + 8 <= count {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ 0x8080_8080_8080_8080, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count { p[i] = Int8(bitPattern: UInt8(bitPattern: p[i]) ^ 0x80); i += 1 }
    }

    /// The signed quantized value `(row, column)`.
    public func value(_ row: Int, _ column: Int) -> Int8 {
        let v = values.pointer[row * kPadded + column]
        return offset ? Int8(bitPattern: UInt8(bitPattern: v) ^ 0x80) : v
    }
    /// The scale of `(row, column)`'s block.
    public func scale(_ row: Int, column: Int = 0) -> Float { scales.pointer[(column / blockSize) * paddedRows + row] }
}

/// The int8 product's kernels: AMX tiles, AVX-512 VNNI, AVX2, or plain Swift.
public enum Int8Path: String, Sendable, CaseIterable {
    case amx, vnni, avx2, portable

    /// The best the context's ISA build and this CPU run (`DYDIT_ISA` lowers the ISA, and
    /// with it the path).
    public static func best(for isa: ISA, cpu: CPUFeatures = .current) -> Int8Path {
        switch isa {
        case .avx512: return cpu.amxInt8 ? .amx : cpu.avx512vnni ? .vnni : .avx2
        case .avx2: return .avx2
        case .portable: return .portable
        }
    }

    /// The path's int32 tile, the int8 half of the dispatch table.
    /// (AMX has its own 32-row driver; its entry here is never called.)
    var kernels: any Int8TileKernels.Type {
        switch self {
        case .vnni, .amx: return VNNIKernels.self
        case .avx2: return Int8AVX2Tiles.self
        case .portable: return Int8PortableTiles.self
        }
    }

    /// `iterations` rounds of the VNNI peak loop on this thread: the int8 operations done (two
    /// per byte product) and a value the loop's sums depend on. Needs AVX-512 VNNI.
    public static func dotProductPeakLoop(iterations: Int) -> (ops: Double, sink: Int32) {
        precondition(Int8Path.vnni.isSupported(), "the vpdpbusd peak needs AVX-512 VNNI")
        let sink = VNNIKernels.peakLoop(iterations: iterations, seed: 0x0102_0304)
        return (Double(iterations) * 24 * 16 * 4 * 2, sink)
    }

    public func isSupported(by cpu: CPUFeatures = .current) -> Bool {
        switch self {
        case .amx: return cpu.supports(.avx512) && cpu.amxInt8
        case .vnni: return cpu.supports(.avx512) && cpu.avx512vnni
        case .avx2: return cpu.supports(.avx2)
        case .portable: return true
        }
    }
}

/// `out = act(dequant(q(x) · q(W)ᵀ) + bias)`: activations quantized per row, int32 dot
/// products, scales, bias and activation applied in one epilogue per tile.
public enum Int8Gemm {
    public static func linear(_ x: UnsafePointer<Float>, rows m: Int, ldx: Int? = nil, weight: Int8Matrix,
                              bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                              activation: Activation = .none, accumulate: Bool = false,
                              workspace: Int8Activations, ctx: ComputeContext, path: Int8Path? = nil,
                              blockSums: Int8BlockSums? = nil) {
        if m == 0 || weight.n == 0 { return }
        var path = path ?? ctx.int8Path
        precondition(path.isSupported(), "the \(path) int8 path needs instructions this CPU lacks (\(CPUFeatures.current.brand))")
        let scheme = ctx.int8Activations
        // AMX sums 64 k per step: block-32 scales run on the VNNI tile (every AMX CPU has VNNI).
        if path == .amx && scheme == .block32 { path = .vnni }
        workspace.quantize(x, rows: m, k: weight.k, lda: ldx ?? weight.k, unsigned: path == .vnni || path == .amx, scheme: scheme,
                           amx: path == .amx, ctx: ctx)
        // Per-row scales are one block spanning K, with the weights' column sums.
        let sums = scheme == .block32 ? (blockSums ?? Int8BlockSums(weight)) : nil
        withExtendedLifetime(sums) {
            product(m: m, weight: weight, sums: sums, bias: bias, out: out, ldo: ldo ?? weight.n, activation: activation,
                      accumulate: accumulate, workspace: workspace, ctx: ctx, path: path)
        }
    }

    /// Row tiles per block of the work order: 96 rows of A (up to 300 KB at K = 3072) stay in
    /// L2 while every 64-column group of weights sweeps them.
    static let tilesPerBlock = 16

    /// Work unit `t` → (row tile, 64-column group): blocks of `tilesPerBlock` row tiles in
    /// order, column groups within a block, row tiles within a group, so a task's contiguous
    /// units reuse one group of weights (L1) across rows, and the rows (L2) across groups,
    /// instead of streaming all the weights once per row tile.
    @inline(__always)
    static func unit(_ t: Int, tiles: Int, groups: Int) -> (tile: Int, group: Int) {
        let full = tilesPerBlock * groups, block = t / full, rest = t % full
        let inBlock = min(tilesPerBlock, tiles - block * tilesPerBlock)
        return (block * tilesPerBlock + rest % inBlock, rest / inBlock)
    }

    /// The product in tiles of 6 rows × 64 columns: per tile and block of the activation scales
    /// along K (all of K per row, or 32 with `sums`), the int32 tile of that block, then
    /// `out (+)= dequant(tile)` with the block's activation scales and weight sums (VNNI summed
    /// (a + 128)·w, so 128·Σw comes off); bias and activation with the last block.
    static func product(m: Int, weight: Int8Matrix, sums blockSums: Int8BlockSums?, bias: UnsafePointer<Float>?,
                          out: UnsafeMutablePointer<Float>, ldo: Int, activation: Activation, accumulate: Bool,
                          workspace: Int8Activations, ctx: ComputeContext, path: Int8Path) {
        let tileRows = path == .amx ? 32 : 6
        let tiles = (m + tileRows - 1) / tileRows, groups = (weight.panels + 3) / 4
        let a = UnsafePointer(workspace.values.pointer), sa = UnsafePointer(workspace.scales.pointer)
        // A's row stride is the workspace's K (64-aligned for AMX); the tiles loop over `kp`.
        let kp = weight.kPadded, kGroups = kp / 4, padded = workspace.paddedRows, lda = workspace.kPadded
        let amxBlocks = Int32(workspace.kPadded / 64)
        let blockGroups = workspace.blockSize / 4, blocks = (kGroups + blockGroups - 1) / blockGroups
        let b = UnsafePointer(weight.packed.pointer), sw = UnsafePointer(weight.scales.pointer)
        let sums = UnsafePointer(blockSums?.sums.pointer ?? weight.columnSums.pointer), sumStride = blockSums?.stride ?? 0
        let stride = weight.panelStride, n = weight.n, totalPanels = weight.panels, isa = ctx.isa
        forEachUnit(tiles: tiles, groups: groups, ctx: ctx) { scratch, i, g in
            let tile = scratch.bindMemory(to: Int32.self, capacity: tileRows * 64)
            let r0 = i * tileRows, p0 = g * 4, panels = min(4, totalPanels - p0)
            let c0 = p0 * 16, cols = min(n, (p0 + panels) * 16) - c0, rows = min(m, r0 + tileRows) - r0
            for blk in 0..<blocks {
                let g0 = blk * blockGroups, count = min(blockGroups, kGroups - g0)
                if path == .amx {
                    dydit_amx_int8_rows32(amxBlocks, a + r0 * lda, lda, b + p0 * stride, stride, Int32(panels), tile, 64)
                } else {
                    rawTile(path, kGroups: count, a: a + r0 * lda + g0 * 4, lda: lda, b: b + p0 * stride + g0 * 64,
                            panelStride: stride, panels: panels, out: tile)
                }
                let last = blk == blocks - 1
                Dispatch.dequantize(isa, tile, ldAcc: 64, rows: rows, cols: cols, shift: path == .vnni || path == .amx ? 128 : 0,
                                    sums: sums + blk * sumStride + c0, scaleA: sa + blk * padded + r0, scaleW: sw + c0,
                                    into: out + r0 * ldo + c0, ldo: ldo, accumulate: accumulate || blk > 0,
                                    bias: last ? bias.map { $0 + c0 } : nil, activation: last ? activation : .none)
            }
        }
    }

    /// Runs `body(scratch, rowTile, columnGroup)` for every unit of a tiles × groups product in
    /// `unit` order, tasks taking contiguous ranges of units; `scratch` is the running thread's
    /// GEMM scratch (bound once per task, outside the units). Twelve tasks per thread: a thread
    /// that finishes its share steals smaller pieces, so the wait at the end of the product is
    /// shorter (the DiT-B/2 int8 forward ~5% faster than with four per thread, two 10–12-round A/Bs).
    @inline(__always)
    static func forEachUnit(tiles: Int, groups: Int, ctx: ComputeContext,
                            _ body: (_ scratch: UnsafeMutableRawPointer, _ tile: Int, _ group: Int) -> Void) {
        let taskCount = min(tiles * groups, max(1, 12 * ctx.threadCount))
        ctx.pool.run(tasks: taskCount) { task, thread in
            let scratch = ctx.gemmScratch(thread: thread)
            let first = task * tiles * groups / taskCount, end = (task + 1) * tiles * groups / taskCount
            for t in first..<end {
                let (i, g) = unit(t, tiles: tiles, groups: groups)
                body(scratch, i, g)
            }
        }
    }

    /// The int32 sums of 6 rows of A with up to 4 weight panels, `[6, 64]`, on `path`.
    @inline(__always)
    static func rawTile(_ path: Int8Path, kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>,
                        panelStride: Int, panels: Int, out: UnsafeMutablePointer<Int32>) {
        path.kernels.tile(kGroups: kGroups, a: a, lda: lda, b: b, panelStride: panelStride, panels: panels, out: out, ldo: 64)
    }
}

/// AVX2's int8 tile works one 16-column panel at a time.
enum Int8AVX2Tiles: Int8TileKernels {
    static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>, panelStride: Int, panels: Int,
                     out: UnsafeMutablePointer<Int32>, ldo: Int) {
        for p in 0..<panels {
            Int8AVX2.tile(kGroups: kGroups, a: a, lda: lda, b: b + p * panelStride, out: out + p * 16, ldo: ldo)
        }
    }
}

/// The same tile in plain integer arithmetic (the fallback, and the reference of the SIMD tiles).
enum Int8PortableTiles: Int8TileKernels {
    static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>, panelStride: Int, panels: Int,
                     out: UnsafeMutablePointer<Int32>, ldo: Int) {
        for r in 0..<6 {
            for p in 0..<panels {
                for c in 0..<16 {
                    var sum: Int32 = 0
                    let w = b + p * panelStride + c * 4
                    for g in 0..<kGroups {
                        for j in 0..<4 { sum &+= Int32(a[r * lda + g * 4 + j]) * Int32(w[g * 64 + j]) }
                    }
                    out[r * ldo + p * 16 + c] = sum
                }
            }
        }
    }
}

/// Each column's Σ q per block of 32 along K (`[block][panels·16]`): the VNNI compensation of
/// the block-32 product. Built once per weight matrix by whoever keeps the matrix (the model
/// builds it per product, which is fine for measuring accuracy, not for timing).
public final class Int8BlockSums: @unchecked Sendable {
    let sums: AlignedBuffer<Int32>
    let stride: Int

    public init(_ w: Int8Matrix) {
        stride = w.panels * 16
        let blocks = (w.kPadded + Int8ActivationScheme.blockSize - 1) / Int8ActivationScheme.blockSize
        sums = AlignedBuffer(count: blocks * stride)
        for j in 0..<w.n {
            for i in 0..<w.k { sums.pointer[(i / Int8ActivationScheme.blockSize) * stride + j] += Int32(w.value(j, i)) }
        }
    }

    public var byteCount: Int { sums.byteCount }
}
