import DyDiTKernelABI
import DyDiTKernels
import XCTest

/// The general bf16 product (training's): the vector packings of both operands, in every
/// layout, against the word-by-word definition bit for bit; and the whole product, on every
/// (build, tile) pair this CPU runs, against a Double product of the bf16-rounded operands
/// within fp32 summation error — accumulate, bias and activation included, on odd shapes.
final class BF16ProductTests: XCTestCase {
    /// (m, n, k): below, at and past 16 in every dimension, odd K, and training's K = rows.
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (3, 5, 7), (16, 16, 32), (17, 33, 31), (32, 48, 64), (40, 20, 65),
                                            (33, 70, 100), (64, 16, 257), (7, 130, 33)]

    struct Case {
        let aTransposed: Bool
        let layout: RightOperandLayout
        let accumulate: Bool
        let bias: Bool
        let activation: Activation
    }

    static let cases: [Case] = [
        Case(aTransposed: false, layout: .rowsNK, accumulate: false, bias: true, activation: .gelu),  // forward
        Case(aTransposed: true, layout: .rowsKN, accumulate: true, bias: false, activation: .none),   // dW += dyᵀ·x
        Case(aTransposed: false, layout: .rowsKN, accumulate: false, bias: false, activation: .none), // dx = dy·W
        Case(aTransposed: true, layout: .rowsNK, accumulate: true, bias: true, activation: .silu),
    ]

    /// Operands stored with a row stride wider than the matrix, so a packing that assumes a
    /// dense layout reads the wrong values.
    struct Operands {
        let a: [Float], b: [Float], c: [Float], bias: [Float]
        let lda: Int, ldb: Int, ldc: Int

        init(_ m: Int, _ n: Int, _ k: Int, _ cs: Case, seed: UInt64) {
            var rng = TestRNG(seed: seed)
            lda = (cs.aTransposed ? m : k) + 3
            ldb = (cs.layout == .rowsNK ? k : n) + 5
            ldc = n + 2
            a = (0..<((cs.aTransposed ? k : m) * lda)).map { _ in Float(rng.uniform()) * 4 - 2 }
            b = (0..<((cs.layout == .rowsNK ? n : k) * ldb)).map { _ in Float(rng.uniform()) * 2 - 1 }
            c = (0..<(m * ldc)).map { _ in Float(rng.uniform()) - 0.5 }
            bias = (0..<n).map { _ in Float(rng.uniform()) }
        }

        func aValue(_ r: Int, _ i: Int, _ cs: Case) -> Float { cs.aTransposed ? a[i * lda + r] : a[r * lda + i] }
        func bValue(_ i: Int, _ j: Int, _ cs: Case) -> Float { cs.layout == .rowsNK ? b[j * ldb + i] : b[i * ldb + j] }
    }

    /// Runs `body` with the case's `GemmOperands` over the stored operands and `c`.
    func withOperands(_ m: Int, _ n: Int, _ k: Int, _ cs: Case, _ o: Operands, c: inout [Float], _ body: (GemmOperands) -> Void) {
        o.a.withUnsafeBufferPointer { ap in
            o.b.withUnsafeBufferPointer { bp in
                o.bias.withUnsafeBufferPointer { biasp in
                    c.withUnsafeMutableBufferPointer { cp in
                        body(GemmOperands(m: m, n: n, k: k, a: ap.baseAddress!, lda: o.lda, aTransposed: cs.aTransposed,
                                          b: bp.baseAddress!, ldb: o.ldb, bLayout: cs.layout, c: cp.baseAddress!, ldc: o.ldc,
                                          accumulate: cs.accumulate, bias: cs.bias ? biasp.baseAddress! : nil,
                                          activation: cs.activation))
                    }
                }
            }
        }
    }

    /// Both packings where the CPU runs them (the vector one is the AVX-512 build's; the
    /// word-by-word one runs everywhere), each against the definition.
    func testVectorPackingEqualsTheDefinition() throws {
        let avx512 = CPUFeatures.current.supports(.avx512)
        let ctx = try ComputeContext(threads: 2, isa: avx512 ? .avx512 : .portable)
        let packings = avx512 ? [true, false] : [false]
        var checked = 0
        for (index, (m, n, k)) in Self.shapes.enumerated() {
            for (ci, cs) in Self.cases.enumerated() {
                let o = Operands(m, n, k, cs, seed: UInt64(10 * index + ci))
                let kpp = ((k + 1) / 2 + 15) / 16 * 16, rows = (m + 31) / 32 * 32, panels = (n + 15) / 16
                var words: [[UInt32]] = []
                for vector in packings {
                    var left = [UInt32](repeating: 0xDEAD_BEEF, count: rows * kpp)
                    var right = [UInt32](repeating: 0xDEAD_BEEF, count: panels * kpp * 16)
                    var c = o.c
                    withOperands(m, n, k, cs, o, c: &c) { p in
                        left.withUnsafeMutableBufferPointer { BF16Gemm.packLeft(p, rows: rows, into: $0.baseAddress!, vector: vector, ctx: ctx) }
                        right.withUnsafeMutableBufferPointer { BF16Gemm.packRight(p, into: $0.baseAddress!, vector: vector, ctx: ctx) }
                    }
                    words.append(left + right)
                }
                // The definition itself, independently of either packing's loops.
                var defined: [UInt32] = []
                for r in 0..<rows {
                    for q in 0..<kpp {
                        func v(_ i: Int) -> Float { r < m && i < k ? o.aValue(r, i, cs) : 0 }
                        defined.append(UInt32(BFloat16.bits(v(2 * q))) | UInt32(BFloat16.bits(v(2 * q + 1))) << 16)
                    }
                }
                for panel in 0..<panels {
                    for q in 0..<kpp {
                        for c in 0..<16 {
                            let j = panel * 16 + c
                            func v(_ i: Int) -> Float { j < n && i < k ? o.bValue(i, j, cs) : 0 }
                            defined.append(UInt32(BFloat16.bits(v(2 * q))) | UInt32(BFloat16.bits(v(2 * q + 1))) << 16)
                        }
                    }
                }
                for (vector, packed) in zip(packings, words) {
                    XCTAssertEqual(packed, defined, "\(vector ? "vector" : "scalar") packing, \(m)×\(n)×\(k) \(cs)")
                }
                checked += 1
            }
        }
        XCTAssertEqual(checked, Self.shapes.count * Self.cases.count)
    }

    func testProductMatchesTheRoundedOperandsInEveryLayout() throws {
        let combinations = BF16Tests.combinations
        XCTAssertFalse(combinations.isEmpty)
        var checked = 0
        for (isa, path) in combinations {
            let ctx = try ComputeContext(threads: 2, isa: isa)
            let buffers = BF16ProductBuffers()
            for (index, (m, n, k)) in Self.shapes.enumerated() {
                for (ci, cs) in Self.cases.enumerated() {
                    let o = Operands(m, n, k, cs, seed: UInt64(100 + 10 * index + ci))
                    var c = o.c
                    withOperands(m, n, k, cs, o, c: &c) { BF16Gemm.run($0, buffers: buffers, ctx: ctx, path: path) }
                    for r in 0..<m {
                        for j in 0..<(o.ldc) {
                            let got = c[r * o.ldc + j]
                            guard j < n else {
                                XCTAssertEqual(got.bitPattern, o.c[r * o.ldc + j].bitPattern, "\(isa)/\(path): wrote past column n")
                                continue
                            }
                            var exact = cs.accumulate ? Double(o.c[r * o.ldc + j]) : 0, magnitude = abs(exact)
                            for i in 0..<k {
                                let p = Double(BFloat16.rounded(o.aValue(r, i, cs))) * Double(BFloat16.rounded(o.bValue(i, j, cs)))
                                exact += p
                                magnitude += abs(p)
                            }
                            if cs.bias {
                                exact += Double(o.bias[j])
                                magnitude += abs(Double(o.bias[j]))
                            }
                            // fp32 sums of exact products, then the activation (Lipschitz ≤ 1.2 for
                            // GELU-tanh and SiLU; their fp32 evaluation adds a few ulp).
                            let bound = Double(k + 2) * 0x1p-24 * magnitude * 1.2 + 1e-6 * (1 + abs(exact))
                            let want = Self.activate(exact, cs.activation)
                            XCTAssert(got.isFinite && abs(Double(got) - want) <= bound,
                                      "\(isa)/\(path) \(m)×\(n)×\(k) \(cs) (\(r), \(j)): \(got), expected \(want) ± \(bound)")
                        }
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, combinations.count * Self.shapes.count * Self.cases.count)
    }

    /// A thread count changes which unit computes what, never a sum's order.
    func testResultDoesNotDependOnTheThreadCount() throws {
        let (m, n, k) = (70, 90, 200), cs = Self.cases[1], o = Operands(m, n, k, cs, seed: 7)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] {
            let ctx = try ComputeContext(threads: threads)
            var c = o.c
            withOperands(m, n, k, cs, o, c: &c) { BF16Gemm.run($0, buffers: BF16ProductBuffers(), ctx: ctx) }
            results.append(c.map(\.bitPattern))
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    static func activate(_ x: Double, _ a: Activation) -> Double {
        switch a {
        case .none: return x
        case .relu: return max(x, 0)
        case .silu: return x / (1 + exp(-x))
        case .gelu: return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        }
    }
}
