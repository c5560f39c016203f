import DyDiTEvaluation
import DyDiTIO
import ReferenceSupport
import XCTest

/// The eigensolver (Householder + QL) against the scalar Jacobi reference, and its vectors
/// against the definition, on random symmetric matrices up to D = 512.
final class EigenTests: XCTestCase {
    func randomSymmetric(_ n: Int, rank: Int? = nil, seed: UInt64) -> [Double] {
        var rng = RandomGenerator(seed: seed)
        let r = rank ?? n
        // G·Gᵀ (positive semi-definite of rank r) plus, at full rank, a random symmetric part.
        let g = (0..<(n * r)).map { _ in Double(rng.normal()) }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { var s = 0.0; for k in 0..<r { s += g[i * r + k] * g[j * r + k] }; a[i * n + j] = s } }
        if rank == nil {
            for i in 0..<n { for j in i..<n { let v = Double(rng.normal()); a[i * n + j] += v; if i != j { a[j * n + i] += v } } }
        }
        return a
    }

    func testAgainstJacobi() {
        for (n, rank) in [(1, nil), (2, nil), (3, nil), (17, nil), (64, nil), (64, 10), (200, nil), (512, nil)] as [(Int, Int?)] {
            let a = randomSymmetric(n, rank: rank, seed: UInt64(n * 31 + (rank ?? 0)))
            let e = SymmetricEigen(a, n: n)
            let reference = JacobiEigen.values(a, n: n)
            let scale = reference.map(abs).max() ?? 1
            assertAllClose(e.values, reference, absolute: 1e-10 * scale, "n = \(n) rank \(rank.map(String.init) ?? "full"): eigenvalues")
            // A·v_j = λ_j·v_j and VᵀV = I.
            var worst = Worst(), orthogonality = Worst()
            for j in 0..<n {
                for i in 0..<n {
                    var av = 0.0
                    for k in 0..<n { av += a[i * n + k] * e.vectors[k * n + j] }
                    worst.record(abs(av - e.values[j] * e.vectors[i * n + j]) / scale)
                }
            }
            for p in stride(from: 0, to: n, by: max(1, n / 16)) {
                for q in 0..<n {
                    var dot = 0.0
                    for k in 0..<n { dot += e.vectors[k * n + p] * e.vectors[k * n + q] }
                    orthogonality.record(abs(dot - (p == q ? 1 : 0)))
                }
            }
            worst.assertWithin(1e-10, "n = \(n): A·v − λ·v")
            orthogonality.assertWithin(1e-10, "n = \(n): VᵀV − I")
            if let rank {
                // A rank-deficient PSD matrix: n − rank eigenvalues at 0 (to rounding), none clearly negative.
                XCTAssertGreaterThan(e.values.first!, -1e-10 * scale, "n = \(n) rank \(rank): negative eigenvalue")
                XCTAssertEqual(e.values.filter { abs($0) < 1e-9 * scale }.count, n - rank, "n = \(n) rank \(rank): zero eigenvalues")
            }
        }
    }
}
