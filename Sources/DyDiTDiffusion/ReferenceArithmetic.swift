import Foundation

/// Bit-exact emulations of the numpy and PyTorch primitives the reference schedules are built
/// with. Tables feed every sampling step, so a one-ulp difference here shows up as 1e-6
/// differences in trajectories.
enum ReferenceArithmetic {
    /// `torch.linspace(start, end, steps, dtype=float32)` on CPU: `step = f32(f32(end − start) /
    /// f32(steps − 1))`; the first half is `start + step·i`, the second `end − step·(steps−1−i)`,
    /// each one fused multiply-add (a single rounding).
    static func torchLinspaceF32(_ start: Double, _ end: Double, _ steps: Int) -> [Float] {
        let s = Float(start), e = Float(end)
        if steps == 1 { return [s] }
        let step = (e - s) / Float(steps - 1)
        let half = steps / 2
        return (0..<steps).map { i in
            i < half ? s.addingProduct(step, Float(i)) : e.addingProduct(-step, Float(steps - 1 - i))
        }
    }

    /// `torch.cumprod` of a float32 tensor on CPU: the running product is kept in Double and
    /// each output rounded to float32.
    static func torchCumprodF32(_ a: [Float]) -> [Float] {
        var acc = 1.0
        return a.map { acc *= Double($0); return Float(acc) }
    }

    /// `np.linspace(a, b, n)`: `i·step + a` with `step = (b − a)/(n − 1)`, the last value `b`.
    static func numpyLinspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        if n == 1 { return [a] }
        let step = (b - a) / Double(n - 1)
        var y = (0..<n).map { Double($0) * step + a }
        y[n - 1] = b
        return y
    }

    /// `np.round` (half to even) then `astype(int64)`.
    static func numpyRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }
}
