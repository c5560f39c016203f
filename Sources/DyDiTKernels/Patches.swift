/// Patch embedding as a GEMM: images to patch rows (im2col for a stride-p, kernel-p conv)
/// and model output rows back to images (DiT's `unpatchify`).
public enum Patches {
    /// `x [B, C, H, W]` → `rows [B·N, C·p·p]`, tokens row-major over the `(H/p)×(W/p)` grid,
    /// columns ordered `(c, pq, pk)` like a flattened conv weight `[D, C, p, p]`.
    public static func extract(_ x: UnsafePointer<Float>, batch: Int, channels: Int, height: Int,
                               width: Int, patch p: Int, into rows: UnsafeMutablePointer<Float>) {
        let gh = height / p, gw = width / p
        let cols = channels * p * p
        for b in 0..<batch {
            for i in 0..<gh {
                for j in 0..<gw {
                    let row = rows + ((b * gh + i) * gw + j) * cols
                    for c in 0..<channels {
                        let plane = x + (b * channels + c) * height * width
                        for pq in 0..<p {
                            let src = plane + (i * p + pq) * width + j * p
                            let dst = row + (c * p + pq) * p
                            for pk in 0..<p { dst[pk] = src[pk] }
                        }
                    }
                }
            }
        }
    }

    /// `rows [B·N, ld]` holding `(pq, pk, c)` with the channel fastest → `x [B, C, H, W]`.
    public static func assemble(_ rows: UnsafePointer<Float>, ld: Int, batch: Int, channels: Int,
                                height: Int, width: Int, patch p: Int,
                                into x: UnsafeMutablePointer<Float>) {
        forEachElement(ld: ld, batch: batch, channels: channels, height: height, width: width, patch: p) { row, pixel in
            x[pixel] = rows[row]
        }
    }

    /// The adjoint of `assemble` (its gradient): `x [B, C, H, W]` → rows `[B·N, ld]` holding
    /// `(pq, pk, c)` with the channel fastest.
    public static func disassemble(_ x: UnsafePointer<Float>, batch: Int, channels: Int, height: Int, width: Int,
                                   patch p: Int, into rows: UnsafeMutablePointer<Float>, ld: Int) {
        forEachElement(ld: ld, batch: batch, channels: channels, height: height, width: width, patch: p) { row, pixel in
            rows[row] = x[pixel]
        }
    }

    /// Each pair (index in the patch rows, index in the image) of `assemble`'s mapping.
    @inline(__always)
    static func forEachElement(ld: Int, batch: Int, channels: Int, height: Int, width: Int, patch p: Int,
                               _ body: (_ row: Int, _ pixel: Int) -> Void) {
        let gh = height / p, gw = width / p
        for b in 0..<batch {
            for i in 0..<gh {
                for j in 0..<gw {
                    let row = ((b * gh + i) * gw + j) * ld
                    for pq in 0..<p {
                        for pk in 0..<p {
                            for c in 0..<channels {
                                body(row + (pq * p + pk) * channels + c, ((b * channels + c) * height + i * p + pq) * width + j * p + pk)
                            }
                        }
                    }
                }
            }
        }
    }
}
