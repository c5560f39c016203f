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
    /// image is 0 (the padding). One task per image.
    static func expand(_ x: UnsafePointer<Float>, batch: Int, size: Int, channels c: Int, stride: Int,
                       into cols: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        let out = outputSize(size, stride: stride), k = 9 * c
        ctx.pool.run(tasks: batch) { b, _ in
            let image = x + b * size * size * c
            var row = cols + b * out * out * k
            for oy in 0..<out {
                for ox in 0..<out {
                    var dst = row
                    for ky in 0..<3 {
                        let iy = oy * stride + ky - 1
                        for kx in 0..<3 {
                            let ix = ox * stride + kx - 1
                            if iy < 0 || iy >= size || ix < 0 || ix >= size {
                                dst.update(repeating: 0, count: c)
                            } else {
                                dst.update(from: image + (iy * size + ix) * c, count: c)
                            }
                            dst += c
                        }
                    }
                    row += k
                }
            }
        }
    }

    /// The adjoint of `expand`: adds each row's window back onto `dx [batch, size, size,
    /// channels]` (which the caller zeroes). One task per image, so no two tasks write one pixel.
    static func accumulate(_ cols: UnsafePointer<Float>, batch: Int, size: Int, channels c: Int, stride: Int,
                           into dx: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        let out = outputSize(size, stride: stride), k = 9 * c
        ctx.pool.run(tasks: batch) { b, _ in
            let image = dx + b * size * size * c
            var row = cols + b * out * out * k
            for oy in 0..<out {
                for ox in 0..<out {
                    var src = row
                    for ky in 0..<3 {
                        let iy = oy * stride + ky - 1
                        for kx in 0..<3 {
                            let ix = ox * stride + kx - 1
                            if iy >= 0 && iy < size && ix >= 0 && ix < size {
                                let p = image + (iy * size + ix) * c
                                for j in 0..<c { p[j] += src[j] }
                            }
                            src += c
                        }
                    }
                    row += k
                }
            }
        }
    }
}
