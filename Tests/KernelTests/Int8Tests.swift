import DyDiTKernels
import XCTest

/// The int8 product on every (kernel build, integer tile) pair this CPU runs against integer
/// arithmetic on activations quantized by the scalar `Reference.quantizeRow` (never by the
/// kernel under test), at the extremes where an int16 intermediate could saturate, and
/// against the fp32 product (quantization error bound).
final class Int8Tests: XCTestCase {
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (1, 7, 3), (5, 17, 9), (6, 16, 8), (7, 65, 13), (13, 64, 128),
                                            (31, 100, 257), (2, 300, 64), (150, 70, 300), (3, 19, 33), (9, 40, 95),
                                            (4, 33, 71)]
    /// K around every vector width (16 floats per AVX-512 register, 8 per AVX2 one, 4 per
    /// int8 group) and the q8_0 block of 32, so each build's scalar tail and the last short block run.
    static let rowLengths = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 95, 127, 128, 129, 191, 255, 257, 300, 385]

    /// The (kernel build, int8 path) pairs a CPU can run: each build with its own tile, and
    /// the AVX-512 build with the AVX2 tile, which is what `Int8Path.best` picks on an AVX-512
    /// CPU without VNNI (the build's quantizer and epilogue around another build's tile).
    static var combinations: [(isa: ISA, path: Int8Path)] {
        [(ISA.portable, Int8Path.portable), (.avx2, .avx2), (.avx512, .avx2), (.avx512, .vnni), (.avx512, .amx)]
            .filter { CPUFeatures.current.supports($0.0) && $0.1.isSupported() }
    }

    func int8Context(_ isa: ISA, _ path: Int8Path, threads: Int) -> ComputeContext {
        let ctx = context(isa, threads: threads)
        ctx.int8Path = path
        return ctx
    }

    /// Activations quantized by the scalar reference, addressed like `Int8Activations`.
    struct Quantized {
        let q: [Int8], scales: [[Float]], k: Int, block: Int
        init(_ a: [Float], rows: Int, k: Int, scheme: Int8ActivationScheme) {
            (q, scales) = Reference.quantizeActivations(a, rows: rows, k: k, scheme: scheme)
            self.k = k
            block = scheme == .perRow ? max(k, 1) : Int8ActivationScheme.blockSize
        }
        func value(_ r: Int, _ i: Int) -> Int8 { q[r * k + i] }
        func scale(_ r: Int, column: Int) -> Float { scales[r][column / block] }
    }

    /// The expected output from the reference-quantized values, in Int64 per block of the
    /// activation scales (all of K, or 32), then the kernel's epilogue order.
    func expected(_ q: Quantized, _ w: Int8Matrix, m: Int, bias: [Float], c0: [Float], accumulate: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: m * w.n)
        for r in 0..<m {
            for c in 0..<w.n {
                var v: Float = 0
                for (b, k0) in stride(from: 0, to: w.k, by: q.block).enumerated() {
                    var sum: Int64 = 0
                    for i in k0..<min(w.k, k0 + q.block) { sum += Int64(q.value(r, i)) * Int64(w.value(c, i)) }
                    // The kernel's order: dequantize, add the old C (or the earlier blocks), then the bias.
                    let d = Float(Int32(sum)) * (w.scale(c) * q.scale(r, column: k0))
                    v = b > 0 ? d + v : accumulate ? d + c0[r * w.n + c] : d
                }
                out[r * w.n + c] = v + bias[c]
            }
        }
        return out
    }

    /// What a kernel quantized into `workspace` must equal the scalar reference byte for byte
    /// and scale for scale, padding included (zero values, zero scales).
    func checkWorkspace(_ ws: Int8Activations, _ want: Quantized, rows m: Int, _ label: String) {
        var got: [Int8] = [], expected: [Int8] = []
        var gotScales: [Float] = [], wantScales: [Float] = []
        for r in 0..<ws.paddedRows {
            for i in 0..<ws.kPadded {
                got.append(ws.value(r, i))
                expected.append(r < m && i < want.k ? want.value(r, i) : 0)
            }
            for k0 in stride(from: 0, to: max(want.k, 1), by: want.block) {
                gotScales.append(ws.scale(r, column: k0))
                wantScales.append(r < m ? want.scale(r, column: k0) : 0)
            }
        }
        XCTAssertEqual(got, expected, "\(label): quantized activations")
        assertClose(gotScales, wantScales, tolerance: 0, "\(label): activation scales")
    }

    /// Rows that catch a wrong rounding or a lost tail: Gaussian; half-integer multiples of
    /// the step (peak 127, so 127/peak is exactly 1 and x·(127/peak) lands on ties);
    /// the peak in the last element (the scalar tail after the vector loop) and negative;
    /// all zero; tiny values.
    static func rows(k: Int, _ rng: inout TestRNG) -> [[Float]] {
        var ties = (0..<k).map { Float($0 % 50) - 24.5 }
        ties[k / 2] = 127
        var tailPeak = rng.normals(k)
        tailPeak[k - 1] = -9
        return [rng.normals(k, scale: 3), ties, tailPeak, [Float](repeating: 0, count: k), rng.normals(k, scale: 1e-30)]
    }

    func testRowQuantizerOfEveryBuildMatchesTheScalarOne() {
        var rng = TestRNG(seed: 7)
        var coverage = BuildCoverage(name)
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for k in Self.rowLengths {
                for (n, row) in Self.rows(k: k, &rng).enumerated() {
                    let want = Reference.quantizeRow(row[...])
                    for kPadded in [(k + 3) / 4 * 4, k + 9] {
                        var q = [Int8](repeating: 0x55, count: kPadded)
                        let scale = row.withUnsafeBufferPointer { x in
                            q.withUnsafeMutableBufferPointer { Dispatch.quantizeRow(isa, x.baseAddress!, k: k, kPadded: kPadded, into: $0.baseAddress!) }
                        }
                        let label = "\(isa) k=\(k) kPadded=\(kPadded) row \(n)"
                        XCTAssertEqual(q, want.q + [Int8](repeating: 0, count: kPadded - k), label)
                        assertClose([scale], [want.scale], tolerance: 0, "\(label): scale")
                    }
                }
            }
        }
        coverage.finish()
    }

    /// Whole activation matrices, both schemes, signed and VNNI's unsigned storage, rows
    /// with a stride, on every build: what the product multiplies is the reference's.
    func testActivationQuantizationMatchesTheScalarOne() {
        var rng = TestRNG(seed: 11)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for scheme in Int8ActivationScheme.allCases {
                for unsigned in [false, true] {
                    for (m, k) in [(1, 1), (5, 33), (7, 95), (13, 257), (6, 64), (3, 300), (2, 31)] {
                        let lda = k + 3
                        let a = rng.normals(m * lda, scale: 2)
                        let packed = (0..<m).flatMap { a[($0 * lda)..<($0 * lda + k)] }
                        let ws = Int8Activations()
                        a.withUnsafeBufferPointer {
                            ws.quantize($0.baseAddress!, rows: m, k: k, lda: lda, unsigned: unsigned, scheme: scheme, ctx: ctx)
                        }
                        checkWorkspace(ws, Quantized(packed, rows: m, k: k, scheme: scheme), rows: m,
                                       "\(isa) \(scheme) unsigned=\(unsigned) m=\(m) k=\(k)")
                    }
                }
            }
        }
    }

    func testEveryPathAgainstIntegerArithmetic() throws {
        var rng = TestRNG(seed: 8)
        XCTAssert(Self.combinations.contains { $0.isa == .portable && $0.path == .portable })
        print("int8 (build, path) pairs on this CPU: \(Self.combinations.map { "\($0.isa)+\($0.path)" }.joined(separator: ", "))")
        var coverage = BuildCoverage(name, int8: true)
        for (isa, path) in Self.combinations {
            coverage.ran(isa.rawValue, int8Path: path.rawValue)
            for scheme in Int8ActivationScheme.allCases {
                let ctx = int8Context(isa, path, threads: 2)
                ctx.int8Activations = scheme
                let workspace = Int8Activations()
                for (m, n, k) in Self.shapes {
                    let a = rng.normals(m * k, scale: 3), w = rng.normals(n * k), bias = rng.normals(n), c0 = rng.normals(m * n)
                    let accumulate = rng.int(0...1) == 1
                    let activation = [Activation.none, .gelu, .silu][rng.int(0...2)]
                    let weights = Int8Matrix.quantizing(w, n: n, k: k)
                    var got = c0
                    a.withUnsafeBufferPointer { ap in bias.withUnsafeBufferPointer { bp in got.withUnsafeMutableBufferPointer { op in
                        Int8Gemm.linear(ap.baseAddress!, rows: m, weight: weights, bias: bp.baseAddress!, out: op.baseAddress!,
                                        activation: activation, accumulate: accumulate, workspace: workspace, ctx: ctx)
                    } } }
                    let label = "\(isa)+\(path) \(scheme) \(activation) m=\(m) n=\(n) k=\(k)"
                    let reference = Quantized(a, rows: m, k: k, scheme: scheme)
                    checkWorkspace(workspace, reference, rows: m, label)
                    let want = expected(reference, weights, m: m, bias: bias, c0: c0, accumulate: accumulate)
                        .map { Reference.activate($0, activation) }
                    // Exact up to float rounding; the vector activations within OpsTests' bound of the scalar ones.
                    if activation == .none {
                        assertWithinULPs(got, want, ulps: 2, label)
                    } else {
                        assertWithinBounds(got, want, bounds: want.map { 4e-7 * max(1, Double(abs($0))) }, label)
                    }
                }
            }
        }
        coverage.finish()
    }

    /// How dispatch picks the integer tile: VNNI only under the AVX-512 build of a CPU that
    /// has it; an AVX-512 CPU without VNNI gets the AVX2 tile (tested above as avx512+avx2).
    func testDispatchPicksTheTileFromTheBuildAndTheCPU() throws {
        var noVNNI = CPUFeatures()
        noVNNI.avx2 = true; noVNNI.fma = true; noVNNI.f16c = true
        noVNNI.avx512f = true; noVNNI.avx512bw = true; noVNNI.avx512vl = true; noVNNI.avx512dq = true
        var vnni = noVNNI
        vnni.avx512vnni = true
        XCTAssertEqual(Int8Path.best(for: .avx512, cpu: noVNNI), .avx2)
        XCTAssertEqual(Int8Path.best(for: .avx512, cpu: vnni), .vnni)
        XCTAssertEqual(Int8Path.best(for: .avx2, cpu: vnni), .avx2)
        XCTAssertEqual(Int8Path.best(for: .portable, cpu: vnni), .portable)
        XCTAssertFalse(Int8Path.vnni.isSupported(by: noVNNI))
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            XCTAssertEqual(try ComputeContext(threads: 1, isa: isa).int8Path, Int8Path.best(for: isa), "\(isa)")
        }
    }

    /// All weights and activations at ±127, K = 1000: every vpmaddubsw pair is ±32258 (the
    /// largest the sign trick allows, under int16's 32767) and the sums reach ±16 129 000.
    func testNoIntermediateSaturates() throws {
        let m = 7, n = 20, k = 1000
        var a = [Float](repeating: 1, count: m * k), w = [Float](repeating: 1, count: n * k)
        for i in stride(from: 0, to: a.count, by: 3) { a[i] = -1 }
        for i in stride(from: 1, to: w.count, by: 2) { w[i] = -1 }
        let weights = Int8Matrix.quantizing(w, n: n, k: k)
        XCTAssertEqual(weights.value(0, 0), 127)
        XCTAssertEqual(weights.value(0, 1), -127)
        var exact = [Float](repeating: 0, count: m * n)
        for r in 0..<m { for c in 0..<n { for i in 0..<k { exact[r * n + c] += a[r * k + i] * w[c * k + i] } } }
        var coverage = BuildCoverage(name, int8: true)
        defer { coverage.finish() }
        for (isa, path) in Self.combinations {
            coverage.ran(isa.rawValue, int8Path: path.rawValue)
            let ctx = int8Context(isa, path, threads: 1)
            let workspace = Int8Activations()
            var got = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in got.withUnsafeMutableBufferPointer { op in
                Int8Gemm.linear(ap.baseAddress!, rows: m, weight: weights, bias: nil, out: op.baseAddress!, workspace: workspace, ctx: ctx)
            } }
            let want = expected(Quantized(a, rows: m, k: k, scheme: .perRow), weights, m: m,
                                bias: [Float](repeating: 0, count: n), c0: [], accumulate: false)
            assertClose(got, want, tolerance: 0, "\(isa)+\(path)")
            // And the exact fp32 product: ±1 values quantize without error.
            assertAllClose(got, exact, absolute: 1e-3, "\(isa)+\(path) against fp32")
        }
    }

    /// Against the fp32 product on Gaussian data: normalised MSE Σ(c − c32)² / Σ c32² below
    /// 2e-4. Expected ≈ 9e-5: a row's absmax is ≈ 3σ, so rounding to steps of 3σ/127 adds a
    /// relative variance (3/127)²/12 ≈ 4.6e-5 per factor, and both factors are rounded.
    /// K = 384 is whole vectors and blocks; K = 397 leaves a tail everywhere (13 past the
    /// last block of 32, 1 past a group of 4).
    func testErrorAgainstFP32() throws {
        var rng = TestRNG(seed: 9)
        var coverage = BuildCoverage(name, int8: true)
        defer { coverage.finish() }
        for k in [384, 397] {
            let m = 64, n = 96
            let a = rng.normals(m * k), w = rng.normals(n * k)
            let weights = Int8Matrix.quantizing(w, n: n, k: k)
            let exact = fp32Product(a, w, m: m, n: n, k: k)
            for (isa, path) in Self.combinations {
                coverage.ran(isa.rawValue, int8Path: path.rawValue)
                for scheme in Int8ActivationScheme.allCases {
                    let ctx = int8Context(isa, path, threads: 2)
                    ctx.int8Activations = scheme
                    var got = [Float](repeating: 0, count: m * n)
                    a.withUnsafeBufferPointer { ap in got.withUnsafeMutableBufferPointer { op in
                        Int8Gemm.linear(ap.baseAddress!, rows: m, weight: weights, bias: nil, out: op.baseAddress!,
                                        workspace: Int8Activations(), ctx: ctx)
                    } }
                    let nmse = normalisedMSE(got, exact)
                    print(String(format: "int8 %@+%@ %@ K=%d: normalised MSE against fp32 %.2e (≤ 2e-4)",
                                 isa.rawValue, path.rawValue, scheme.rawValue, k, nmse))
                    XCTAssertLessThan(nmse, 2e-4, "\(isa)+\(path) \(scheme) K=\(k)")
                }
            }
        }
    }

    func fp32Product(_ a: [Float], _ w: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        for r in 0..<m { for c in 0..<n { var s: Float = 0; for i in 0..<k { s += a[r * k + i] * w[c * k + i] }; out[r * n + c] = s } }
        return out
    }

    /// Σ(got − want)² / Σ want² (NaN, which fails every `<`, when anything is non-finite).
    func normalisedMSE(_ got: [Float], _ want: [Float]) -> Double {
        zip(got, want).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / want.reduce(0.0) { $0 + Double($1 * $1) }
    }

    /// Per-row against block-32 activation scales (issue: "measure both, keep the better"), on
    /// Gaussian activations and on activations whose few outlier channels are 30× the rest,
    /// as transformer activations have. Block scales confine an outlier to its block of 32.
    func testActivationScalesPerRowAgainstBlock32() throws {
        var rng = TestRNG(seed: 10)
        let m = 48, n = 96, k = 384
        let w = rng.normals(n * k), weights = Int8Matrix.quantizing(w, n: n, k: k)
        let gaussian = rng.normals(m * k)
        var outliers = rng.normals(m * k)
        for r in 0..<m { for channel in [5, 77, 300] { outliers[r * k + channel] *= 30 } }
        for (name, a) in [("gaussian", gaussian), ("outlier channels", outliers)] {
            let exact = fp32Product(a, w, m: m, n: n, k: k)
            var nmse: [Int8ActivationScheme: Double] = [:]
            for scheme in Int8ActivationScheme.allCases {
                let ctx = context(CPUFeatures.current.best, threads: 1)
                ctx.int8Activations = scheme
                var got = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { ap in got.withUnsafeMutableBufferPointer { op in
                    Int8Gemm.linear(ap.baseAddress!, rows: m, weight: weights, bias: nil, out: op.baseAddress!,
                                    workspace: Int8Activations(), ctx: ctx)
                } }
                nmse[scheme] = normalisedMSE(got, exact)
            }
            print(String(format: "int8 activations, %@: normalised MSE against fp32, per row %.2e, block-32 %.2e",
                         name, nmse[.perRow]!, nmse[.block32]!))
            // Both meet the Gaussian contract; with outliers the per-row error grows by the
            // outliers' share of the row range, and block scales must win it back (at least 4×).
            if name == "gaussian" {
                XCTAssertLessThan(nmse[.perRow]!, 2e-4, name)
                XCTAssertLessThan(nmse[.block32]!, 2e-4, name)
            } else {
                XCTAssertLessThan(4 * nmse[.block32]!, nmse[.perRow]!, name)
            }
        }
    }
}
