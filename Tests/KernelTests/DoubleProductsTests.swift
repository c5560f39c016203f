import DyDiTKernels
import XCTest

/// The Double dot-product kernel of every ISA build against the scalar reference, on odd
/// shapes (edges of the 4×4 blocks, tails of the 8 lanes).
final class DoubleProductsTests: XCTestCase {
    func testEveryBuildAgainstReference() {
        var rng = TestRNG(seed: 12)
        for isa in supportedISAs {
            for (m, n, d) in [(1, 1, 1), (4, 4, 8), (5, 7, 13), (9, 3, 256), (17, 22, 31), (64, 65, 100)] {
                let x = (0..<(m * d)).map { _ in Double(rng.normal()) }, y = (0..<(n * d)).map { _ in Double(rng.normal()) }
                for rows in [0..<m, (m / 2)..<m] {
                    var got = [Double](repeating: .nan, count: rows.count * n), want = got
                    x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in
                        got.withUnsafeMutableBufferPointer { g in
                            DoubleProducts.rows(xp.baseAddress!, rows, yp.baseAddress!, n: n, d: d, into: g.baseAddress!, ldo: n, isa: isa)
                        }
                        want.withUnsafeMutableBufferPointer { w in
                            Reference.dotProductsF64(xp.baseAddress!, rows, yp.baseAddress!, n: n, d: d, into: w.baseAddress!, ldo: n)
                        }
                    } }
                    assertAllClose(got, want, absolute: 1e-12 * Double(d), relative: 1e-13, "\(isa) m=\(m) n=\(n) d=\(d) rows \(rows)")
                }
            }
        }
    }
}
