import DyDiTIO
import DyDiTKernels

/// KID: the unbiased estimate of the squared maximum mean discrepancy with the cubic
/// polynomial kernel `k(x, y) = (xᵀy/d + 1)³`, averaged over random subsets, as
/// torch-fidelity computes it (`kid_subsets` 100, `kid_subset_size` 1000, or the smaller
/// set's size when it has fewer), with the standard deviation over the subsets (`np.std`,
/// ddof 0). Subsets are drawn without replacement from a seeded generator.
public enum KernelDistance {
    public struct Settings: Sendable {
        public var subsets = 100
        public var subsetSize = 1000
        public var seed: UInt64 = 0
        public init() {}
    }

    public struct Result: Sendable {
        public let mean: Double
        public let std: Double
        public let subsets: Int
        public let subsetSize: Int
    }

    public static func compute(_ real: FeatureSet, _ fake: FeatureSet, _ s: Settings = Settings(), ctx: ComputeContext) -> Result {
        precondition(real.dim == fake.dim && real.count >= 2 && fake.count >= 2)
        let m = min(s.subsetSize, real.count, fake.count)
        var rng = RandomGenerator(seed: s.seed)
        var values: [Double] = []
        for _ in 0..<s.subsets {
            let x = fake.subset(sample(fake.count, m, &rng))
            let y = real.subset(sample(real.count, m, &rng))
            values.append(mmd(x, y, ctx: ctx))
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        return Result(mean: mean, std: variance.squareRoot(), subsets: s.subsets, subsetSize: m)
    }

    /// The unbiased MMD² of two equally large sets.
    public static func mmd(_ x: FeatureSet, _ y: FeatureSet, ctx: ComputeContext) -> Double {
        let m = Double(x.count)
        let xx = kernelSum(x, x, offDiagonal: true, ctx: ctx), yy = kernelSum(y, y, offDiagonal: true, ctx: ctx)
        let xy = kernelSum(x, y, offDiagonal: false, ctx: ctx)
        return (xx + yy) / (m * (m - 1)) - 2 * xy / (m * m)
    }

    /// Σ k(x_i, y_j) over all pairs (i ≠ j when `offDiagonal`), summed per block in a fixed
    /// order so the result does not depend on the thread count.
    static func kernelSum(_ x: FeatureSet, _ y: FeatureSet, offDiagonal: Bool, ctx: ComputeContext) -> Double {
        let blockRows = 64, n = y.count, inv = 1 / Double(x.dim)
        let blocks = (x.count + blockRows - 1) / blockRows
        let partial = AlignedBuffer<Double>(count: blocks)
        DotProducts.forEachBlock(x, y, blockRows: blockRows, ctx: ctx) { rows, products in
            var sum = 0.0
            for (r, i) in rows.enumerated() {
                let row = products + r * n
                for j in 0..<n where !(offDiagonal && i == j) {
                    let base = row[j] * inv + 1
                    sum += base * base * base
                }
            }
            partial.pointer[rows.lowerBound / blockRows] = sum
        }
        var total = 0.0
        for b in 0..<blocks { total += partial.pointer[b] }
        return total
    }

    /// `count` distinct indices of `0..<n`, a partial Fisher–Yates shuffle.
    static func sample(_ n: Int, _ count: Int, _ rng: inout RandomGenerator) -> [Int] {
        var pool = Array(0..<n)
        for i in 0..<count { pool.swapAt(i, i + rng.below(n - i)) }
        return Array(pool.prefix(count))
    }
}
