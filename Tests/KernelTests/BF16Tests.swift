import DyDiTKernels
import XCTest

/// The bf16 product on every (kernel build, bf16 tile) pair this CPU runs: the rounding
/// against its definition, the AVX512_BF16 tile against the fallback tile (the same fp32
/// additions in `vdpbf16ps`'s order), and the whole product against a Double product of the
/// bf16-rounded operands within fp32 summation error, on random and odd shapes.
final class BF16Tests: XCTestCase {
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (1, 7, 3), (5, 17, 9), (6, 16, 8), (7, 65, 13), (13, 64, 128),
                                            (31, 100, 257), (2, 300, 64), (150, 70, 300), (3, 19, 33), (9, 40, 95),
                                            (4, 33, 71)]

    static var combinations: [(isa: ISA, path: BF16Path)] {
        [(ISA.portable, BF16Path.portable), (.avx2, .portable), (.avx512, .portable), (.avx512, .avx512bf16), (.avx512, .amx)]
            .filter { CPUFeatures.current.supports($0.0) && $0.1.isSupported() }
    }

    func testRoundingIsToNearestEven() {
        // 1 + 2⁻⁸ is halfway between bf16 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
        XCTAssertEqual(BFloat16.rounded(1 + 0x1p-8), 1)
        XCTAssertEqual(BFloat16.rounded(1 + 3 * 0x1p-8), 1 + 4 * 0x1p-8, "ties to even: up to 1 + 2⁻⁶")
        XCTAssertEqual(BFloat16.rounded(1 + 0x1p-8 + 0x1p-20), 1 + 0x1p-7, "above halfway rounds up")
        XCTAssertEqual(BFloat16.rounded(-2.5), -2.5)
        XCTAssertEqual(BFloat16.rounded(.infinity), .infinity)
        XCTAssertTrue(BFloat16.rounded(.nan).isNaN)
        XCTAssertEqual(BFloat16.rounded(Float.greatestFiniteMagnitude), .infinity, "past bf16's largest finite: overflows")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let x = Float.random(in: -1000...1000, using: &rng)
            let r = BFloat16.rounded(x)
            XCTAssertEqual(r.bitPattern & 0xFFFF, 0)
            // Within half a bf16 ulp (2⁻⁸ relative).
            XCTAssertLessThanOrEqual(abs(r - x), abs(x) * 0x1p-8 * 1.0001)
        }
    }

    /// The activations' rounding (sixteen words per step in the AVX-512 build) equals the
    /// scalar definition on special values, ties, denormals and an odd tail.
    func testActivationRoundingEqualsTheScalarDefinitionInEveryBuild() throws {
        var values: [Float] = [0, -0, 1, -1, 1 + 0x1p-8, 1 + 3 * 0x1p-8, .infinity, -.infinity, .nan, -.nan,
                               Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0x7FC0_1234), .leastNonzeroMagnitude,
                               -.leastNormalMagnitude, .greatestFiniteMagnitude, 65504, 3.3895314e38]
        var rng = TestRNG(seed: 42)
        while values.count < 2 * 37 + 1 { values.append((Float(rng.uniform()) - 0.5) * 1e6) }
        let k = values.count
        for isa in CPUFeatures.current.supported {
            let ws = BF16Activations()
            values.withUnsafeBufferPointer { ws.round($0.baseAddress!, rows: 1, k: k, lda: k, ctx: context(isa)) }
            for i in 0..<k {
                let want = BFloat16.float(BFloat16.bits(values[i])), got = ws.value(0, i)
                XCTAssert(want.bitPattern == got.bitPattern, "\(isa): \(values[i]) → \(got), expected \(want)")
            }
        }
    }

    /// Every way of rounding rows to pairs (scalar, integer lanes, `vcvtne2ps2bf16`) gives the
    /// definition's words: on ties, specials and on a denormal in each of a step's 32 lanes
    /// (the instruction reads denormals as zero; the definition rounds them), odd tails too.
    func testEveryPairRoundingEqualsTheDefinition() throws {
        let roundings = BF16PairRounding.allCases.filter { $0.isSupported() }
        XCTAssertTrue(roundings.contains(.scalar))
        let denormals: [UInt32] = [0x0000_8001, 0x0040_0000, 0x007F_FFFF, 0x8012_3456, 0x0000_8000, 0x0001_8000]
        let specials: [Float] = [0, -0, 1 + 0x1p-8, 1 + 3 * 0x1p-8, .infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001),
                                 Float(bitPattern: 0xFFC0_1234), .greatestFiniteMagnitude, .leastNormalMagnitude, -65504]
        var rng = TestRNG(seed: 7)
        var rows: [[Float]] = []
        for pairs in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            rows.append((0..<(2 * pairs)).map { _ in Float(rng.uniform() - 0.5) * 1e3 })
        }
        for lane in 0..<32 {
            var row = (0..<64).map { _ in Float(rng.uniform() - 0.5) * 4 }
            row[lane] = Float(bitPattern: denormals[lane % denormals.count])
            row[32 + (lane + 5) % 32] = specials[lane % specials.count]
            rows.append(row)
        }
        for row in rows {
            let pairs = row.count / 2
            let want = (0..<pairs).map { UInt32(BFloat16.bits(row[2 * $0])) | UInt32(BFloat16.bits(row[2 * $0 + 1])) << 16 }
            for rounding in roundings {
                var got = [UInt32](repeating: 0xDEAD_BEEF, count: pairs + 1)
                row.withUnsafeBufferPointer { src in
                    got.withUnsafeMutableBufferPointer { rounding.round(src.baseAddress!, pairs: pairs, into: $0.baseAddress!) }
                }
                XCTAssertEqual(Array(got[..<pairs]), want, "\(rounding), \(pairs) pairs")
                XCTAssertEqual(got[pairs], 0xDEAD_BEEF, "\(rounding) wrote past \(pairs) pairs")
            }
        }
    }

    func testProductMatchesTheRoundedOperandsOnEveryShape() throws {
        XCTAssertFalse(Self.combinations.isEmpty)
        var checked = 0
        for (isa, path) in Self.combinations {
            for threads in [1, 2] {
                let ctx = try ComputeContext(threads: threads, isa: isa)
                for (seed, (m, n, k)) in Self.shapes.enumerated() {
                    var rng = TestRNG(seed: UInt64(seed + 1))
                    let a = (0..<(m * k)).map { _ in Float(rng.uniform()) * 4 - 2 }
                    let w = (0..<(n * k)).map { _ in Float(rng.uniform()) * 2 - 1 }
                    let bias = (0..<n).map { _ in Float(rng.uniform()) }
                    let weight = BF16Matrix.rounding(w, n: n, k: k), workspace = BF16Activations()
                    var out = [Float](repeating: .nan, count: m * n)
                    a.withUnsafeBufferPointer { ap in
                        bias.withUnsafeBufferPointer { bp in
                            out.withUnsafeMutableBufferPointer { op in
                                BF16Gemm.linear(ap.baseAddress!, rows: m, weight: weight, bias: bp.baseAddress!, out: op.baseAddress!,
                                                workspace: workspace, ctx: ctx, path: path)
                            }
                        }
                    }
                    for r in 0..<m {
                        for c in 0..<n {
                            var exact = 0.0, magnitude = 0.0
                            for i in 0..<k {
                                let p = Double(BFloat16.rounded(a[r * k + i])) * Double(BFloat16.rounded(w[c * k + i]))
                                XCTAssertEqual(Float(p), workspace.value(r, i) * weight.value(c, i))
                                exact += p
                                magnitude += abs(p)
                            }
                            // fp32 sums of k exact products: |error| ≤ k·2⁻²⁴·Σ|p|, plus the bias add.
                            let bound = Double(k + 1) * 0x1p-24 * (magnitude + abs(Double(bias[c]))) + 1e-30
                            let got = Double(out[r * n + c])
                            XCTAssert(got.isFinite && abs(got - (exact + Double(bias[c]))) <= bound,
                                      "\(isa)/\(path) \(m)×\(n)×\(k) (\(r), \(c)): \(got), expected \(exact + Double(bias[c])) ± \(bound)")
                        }
                    }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 2 * Self.shapes.count)
    }

    /// A run whose bf16 products take the fallback tile says so and why (no bf16 instructions
    /// on the CPU, or a kernel build chosen without them); on bf16 hardware it says nothing.
    func testFallbackNoteNamesTheReason() {
        var avx2Only = CPUFeatures()
        (avx2Only.avx2, avx2Only.fma, avx2Only.f16c, avx2Only.brand) = (true, true, true, "Test AVX2 CPU")
        let note = BF16Path.fallbackNote(isa: .avx2, what: "the products", cpu: avx2Only) ?? "nil"
        XCTAssertTrue(note.contains("neither AVX512_BF16 nor AMX-BF16") && note.contains("Test AVX2 CPU"), note)
        var zen4 = avx2Only
        (zen4.avx512f, zen4.avx512bw, zen4.avx512vl, zen4.avx512dq, zen4.avx512bf16) = (true, true, true, true, true)
        XCTAssertNil(BF16Path.fallbackNote(isa: .avx512, what: "the products", cpu: zen4))
        let forced = BF16Path.fallbackNote(isa: .avx2, what: "the products", cpu: zen4) ?? "nil"
        XCTAssertTrue(forced.contains("the avx2 kernel build was chosen"), forced)
    }

    /// The fallback tile (the bf16 path of CPUs without AVX512_BF16 or AMX: each kernel build's
    /// `tile`, A's pairs split 16 at a time) equals the scalar definition of the bf16 product's
    /// additions (`Reference.bf16Product`) bit for bit, on every kernel build and odd shapes
    /// (k from 1 to 300: blocks of 16 pairs continued, and partial ones).
    func testFallbackTileEqualsTheScalarReferenceBitForBit() throws {
        for isa in CPUFeatures.current.supported {
            let ctx = try ComputeContext(threads: 2, isa: isa)
            for (seed, (m, n, k)) in Self.shapes.enumerated() {
                var rng = TestRNG(seed: UInt64(300 + seed))
                let a = (0..<(m * k)).map { _ in Float(rng.uniform()) * 4 - 2 }
                let w = (0..<(n * k)).map { _ in BFloat16.rounded(Float(rng.uniform()) * 2 - 1) }
                let weight = BF16Matrix.rounding(w, n: n, k: k)
                var out = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    out.withUnsafeMutableBufferPointer { op in
                        BF16Gemm.linear(ap.baseAddress!, rows: m, weight: weight, bias: nil, out: op.baseAddress!,
                                        workspace: BF16Activations(), ctx: ctx, path: .portable)
                    }
                }
                let want = Reference.bf16Product(a, rows: m, w, n: n, k: k)
                XCTAssertFalse(out.contains { !$0.isFinite }, "\(isa) \(m)×\(n)×\(k): every output written")
                XCTAssertEqual(out.map(\.bitPattern), want.map(\.bitPattern), "\(isa) \(m)×\(n)×\(k)")
            }
        }
    }

    /// The AVX512_BF16 tile adds in `vdpbf16ps`'s order, which the fallback tile reproduces: the
    /// two agree bit for bit (normal operands: no denormal flushing involved).
    func testTileAgreesWithTheScalarTileBitForBit() throws {
        guard BF16Path.avx512bf16.isSupported() else { throw XCTSkip("this CPU has no AVX512_BF16") }
        let ctx = try ComputeContext(threads: 1, isa: .avx512)
        for (seed, (m, n, k)) in Self.shapes.enumerated() {
            var rng = TestRNG(seed: UInt64(100 + seed))
            let a = (0..<(m * k)).map { _ in Float(rng.uniform()) * 4 - 2 }
            let w = (0..<(n * k)).map { _ in Float(rng.uniform()) * 2 - 1 }
            let weight = BF16Matrix.rounding(w, n: n, k: k)
            var outs: [[Float]] = []
            for path in [BF16Path.avx512bf16, .portable] {
                var out = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    out.withUnsafeMutableBufferPointer { op in
                        BF16Gemm.linear(ap.baseAddress!, rows: m, weight: weight, bias: nil, out: op.baseAddress!,
                                        workspace: BF16Activations(), ctx: ctx, path: path)
                    }
                }
                outs.append(out)
            }
            XCTAssertEqual(outs[0].map(\.bitPattern), outs[1].map(\.bitPattern), "\(m)×\(n)×\(k)")
            XCTAssertFalse(outs[0].contains { !$0.isFinite })
        }
    }
}
