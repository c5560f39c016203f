import DyDiTKernels

/// 3×3 convolutions (padding 1) as GEMMs: `im2col` lays each output pixel's 3×3×C input
/// window out as one row, so a convolution is `rows · Wᵀ` on the project's GEMM with the
/// weights as `[out, 3·3·C]` (`(ky, kx, c)` order, channel fastest). Activations are NHWC,
/// so a GEMM's output rows are the next layer's pixels with no transposition.
enum Im2Col {
    /// Output side for an input side `size` at `stride`.
    @inline(__always)
    static func outputSize(_ size: Int, stride: Int) -> Int { (size - 1) / stride + 1 }

    /// `x [batch, size, size, channels]` → `cols [batch·out·out, 9·channels]`; outside the
    /// image is 0 (the padding).
    static func expand(_ x: UnsafePointer<Float>, batch: Int, size: Int, channels c: Int, stride: Int,
                       into cols: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        windows(batch: batch, size: size, channels: c, stride: stride, ctx: ctx) { slot, pixel in
            if let pixel { (cols + slot).update(from: x + pixel, count: c) } else { (cols + slot).update(repeating: 0, count: c) }
        }
    }

    /// The adjoint of `expand`: adds each row's window back onto `dx [batch, size, size,
    /// channels]` (which the caller zeroes).
    static func accumulate(_ cols: UnsafePointer<Float>, batch: Int, size: Int, channels c: Int, stride: Int,
                           into dx: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        windows(batch: batch, size: size, channels: c, stride: stride, ctx: ctx) { slot, pixel in
            guard let pixel else { return }
            for j in 0..<c { dx[pixel + j] += cols[slot + j] }
        }
    }

    /// Calls `body(slot, pixel)` for the 9 window positions of every output pixel: `slot` is
    /// where the position's `channels` values sit in the im2col rows, `pixel` where they sit
    /// in the NHWC image (nil in the padding). One task per image, so no two tasks touch one
    /// image's pixels.
    @inline(__always)
    private static func windows(batch: Int, size: Int, channels c: Int, stride: Int, ctx: ComputeContext,
                                _ body: (_ slot: Int, _ pixel: Int?) -> Void) {
        let out = outputSize(size, stride: stride), k = 9 * c
        ctx.pool.run(tasks: batch) { b, _ in
            var slot = b * out * out * k
            let image = b * size * size * c
            for oy in 0..<out {
                for ox in 0..<out {
                    for ky in 0..<3 {
                        let iy = oy * stride + ky - 1
                        for kx in 0..<3 {
                            let ix = ox * stride + kx - 1
                            let inside = iy >= 0 && iy < size && ix >= 0 && ix < size
                            body(slot, inside ? image + (iy * size + ix) * c : nil)
                            slot += c
                        }
                    }
                }
            }
        }
    }
}
