import DyDiTKernels

/// Improved precision and recall (Kynkäänniemi et al. 2019, NVlabs' reference code): each
/// set's manifold is the union of balls around its points, each ball reaching the point's
/// k-th nearest neighbour in its own set (k = 3). Precision is the share of generated
/// samples inside the real manifold, recall the share of real images inside the generated
/// one. Distances are squared Euclidean in Double; the radius is the (k+1)-th smallest
/// distance of a row that includes the point itself, as the reference code's
/// `kthvalue(k + 1)` takes it.
public enum PrecisionRecall {
    public struct Result: Sendable {
        public let precision: Double
        public let recall: Double
        public let k: Int
    }

    public static func compute(real: FeatureSet, fake: FeatureSet, k: Int = 3, ctx: ComputeContext) -> Result {
        precondition(real.count > k && fake.count > k, "precision/recall with k = \(k) needs more than \(k) images per set")
        let realRadii = radii(real, k: k, ctx: ctx), fakeRadii = radii(fake, k: k, ctx: ctx)
        let precision = coverage(of: fake, by: real, radii: realRadii, ctx: ctx)
        let recall = coverage(of: real, by: fake, radii: fakeRadii, ctx: ctx)
        return Result(precision: precision, recall: recall, k: k)
    }

    static func squaredNorms(_ s: FeatureSet) -> [Double] {
        (0..<s.count).map { i in
            var t = 0.0
            for j in 0..<s.dim { t += s.values[i * s.dim + j] * s.values[i * s.dim + j] }
            return t
        }
    }

    /// The squared distance from each point to its k-th nearest neighbour within `s`.
    static func radii(_ s: FeatureSet, k: Int, ctx: ComputeContext) -> [Double] {
        let norms = squaredNorms(s), n = s.count
        let out = AlignedBuffer<Double>(count: n)
        DotProducts.forEachBlock(s, s, ctx: ctx) { rows, products in
            // The k+1 smallest of each row, kept sorted by insertion.
            var smallest = [Double](repeating: .infinity, count: k + 1)
            for (r, i) in rows.enumerated() {
                for t in 0...k { smallest[t] = .infinity }
                let row = products + r * n
                for j in 0..<n {
                    let d = max(0, norms[i] - 2 * row[j] + norms[j])
                    if d < smallest[k] {
                        var t = k
                        while t > 0 && smallest[t - 1] > d { smallest[t] = smallest[t - 1]; t -= 1 }
                        smallest[t] = d
                    }
                }
                out.pointer[i] = smallest[k]
            }
        }
        return Array(out.buffer)
    }

    /// The share of `points` within some ball of `centres` (squared `radii`).
    static func coverage(of points: FeatureSet, by centres: FeatureSet, radii: [Double], ctx: ComputeContext) -> Double {
        let pn = squaredNorms(points), cn = squaredNorms(centres), n = centres.count
        let inside = AlignedBuffer<UInt8>(count: points.count)
        DotProducts.forEachBlock(points, centres, ctx: ctx) { rows, products in
            for (r, i) in rows.enumerated() {
                let row = products + r * n
                var hit: UInt8 = 0
                for j in 0..<n where max(0, pn[i] - 2 * row[j] + cn[j]) <= radii[j] {
                    hit = 1
                    break
                }
                inside.pointer[i] = hit
            }
        }
        return Double(inside.buffer.reduce(0) { $0 + Int($1) }) / Double(points.count)
    }
}
