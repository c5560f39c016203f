import DyDiTKernels

/// Feature vectors (`count` rows of `dim`) in Double, as every statistic here computes.
public struct FeatureSet: Sendable {
    public let count: Int
    public let dim: Int
    public let values: [Double]

    public init(_ values: [Double], dim: Int) {
        precondition(dim > 0 && values.count % dim == 0, "\(values.count) values are not rows of \(dim)")
        self.values = values
        self.dim = dim
        count = values.count / dim
    }

    public init(_ floats: [Float], dim: Int) { self.init(floats.map(Double.init), dim: dim) }

    /// The mean vector and the unbiased covariance (divided by count − 1, as `numpy.cov`).
    public func moments() -> (mean: [Double], covariance: [Double]) {
        let n = count, d = dim
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += values[i * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        cov.withUnsafeMutableBufferPointer { c in
            for i in 0..<n {
                for j in 0..<d { centred[j] = values[i * d + j] - mean[j] }
                // Upper triangle, mirrored below afterwards.
                for a in 0..<d {
                    let x = centred[a]
                    if x == 0 { continue }
                    let row = c.baseAddress! + a * d
                    for b in a..<d { row[b] += x * centred[b] }
                }
            }
            let scale = 1 / Double(max(1, n - 1))
            for a in 0..<d {
                for b in a..<d {
                    c[a * d + b] *= scale
                    c[b * d + a] = c[a * d + b]
                }
            }
        }
        return (mean, cov)
    }

    /// Rows `indices` as a new set.
    public func subset(_ indices: [Int]) -> FeatureSet {
        var v = [Double]()
        v.reserveCapacity(indices.count * dim)
        for i in indices { v += values[(i * dim)..<((i + 1) * dim)] }
        return FeatureSet(v, dim: dim)
    }
}
