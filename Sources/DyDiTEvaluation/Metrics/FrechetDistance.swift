/// The Fréchet distance between two Gaussians fitted to feature sets — FID's formula on the
/// Fashion-MNIST classifier's features, so reported as "FD (Fashion-MNIST classifier
/// features)", never as FID:
///
/// `FD = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½`
///
/// `tr (Σ₁Σ₂)^½` equals `tr (Σ₁^½ Σ₂ Σ₁^½)^½`, whose argument is symmetric positive
/// semi-definite: two symmetric eigendecompositions replace `scipy.linalg.sqrtm` of the
/// non-symmetric product, and eigenvalues that rounding leaves slightly negative (a rank-
/// deficient covariance: fewer samples than features) are clipped at 0 instead of producing
/// complex square roots.
public enum FrechetDistance {
    public struct Gaussian: Sendable {
        public let mean: [Double]
        public let covariance: [Double]
        public let dim: Int
        public init(mean: [Double], covariance: [Double]) {
            precondition(covariance.count == mean.count * mean.count)
            self.mean = mean
            self.covariance = covariance
            dim = mean.count
        }
        public init(_ features: FeatureSet) {
            let (m, c) = features.moments()
            self.init(mean: m, covariance: c)
        }
    }

    public static func distance(_ a: Gaussian, _ b: Gaussian) -> Double {
        precondition(a.dim == b.dim, "feature sizes differ: \(a.dim) and \(b.dim)")
        let d = a.dim
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
        var traces = 0.0
        for j in 0..<d { traces += a.covariance[j * d + j] + b.covariance[j * d + j] }
        return max(0, meanTerm + traces - 2 * traceSqrtProduct(a.covariance, b.covariance, d))
    }

    /// `tr (A B)^½` for symmetric positive semi-definite A and B (n×n).
    public static func traceSqrtProduct(_ a: [Double], _ b: [Double], _ n: Int) -> Double {
        let ea = SymmetricEigen(a, n: n)
        // A^½ = U diag(√λ) Uᵀ.
        var root = [Double](repeating: 0, count: n * n)
        let roots = ea.values.map { $0 > 0 ? $0.squareRoot() : 0 }
        var scaled = [Double](repeating: 0, count: n * n)  // U diag(√λ)
        for i in 0..<n { for k in 0..<n { scaled[i * n + k] = ea.vectors[i * n + k] * roots[k] } }
        multiply(scaled, transposeOf: ea.vectors, n, into: &root)
        // M = A^½ B A^½, symmetrised against rounding.
        var t = [Double](repeating: 0, count: n * n), m = t
        multiply(root, b, n, into: &t)
        multiply(t, root, n, into: &m)
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { let s = (m[i * n + j] + m[j * n + i]) / 2; m[i * n + j] = s; m[j * n + i] = s } }
        return SymmetricEigen(m, n: n).values.reduce(0) { $0 + ($1 > 0 ? $1.squareRoot() : 0) }
    }

    /// C = X·Y (n×n row-major).
    static func multiply(_ x: [Double], _ y: [Double], _ n: Int, into c: inout [Double]) {
        for i in 0..<n {
            for j in 0..<n { c[i * n + j] = 0 }
            for k in 0..<n {
                let xik = x[i * n + k]
                if xik == 0 { continue }
                for j in 0..<n { c[i * n + j] += xik * y[k * n + j] }
            }
        }
    }

    /// C = X·Yᵀ (n×n row-major).
    static func multiply(_ x: [Double], transposeOf y: [Double], _ n: Int, into c: inout [Double]) {
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<n { s += x[i * n + k] * y[j * n + k] }
                c[i * n + j] = s
            }
        }
    }
}
