#if canImport(Glibc)
import Glibc
#endif

/// DiT's fixed 2-D sin-cos position embedding (`get_2d_sincos_pos_embed`, computed in
/// float64 by numpy): the first D/2 dims encode the column index, the last D/2 the row
/// index; each half is `[sin(pos·ω_k), cos(pos·ω_k)]` with `ω_k = 1/10000^(k/(D/4))`.
public enum PositionEmbedding {
    public static func sinCos2D(hidden d: Int, grid: Int) -> [Float] {
        let quarter = d / 4
        var out = [Float](repeating: 0, count: grid * grid * d)
        let omega = (0..<quarter).map { 1 / pow(10000.0, Double($0) / Double(quarter)) }
        for row in 0..<grid {
            for col in 0..<grid {
                let base = (row * grid + col) * d
                for k in 0..<quarter {
                    // numpy's meshgrid(w, h) puts the column coordinate first.
                    let a = Double(col) * omega[k], b = Double(row) * omega[k]
                    out[base + k] = Float(sin(a))
                    out[base + quarter + k] = Float(cos(a))
                    out[base + 2 * quarter + k] = Float(sin(b))
                    out[base + 3 * quarter + k] = Float(cos(b))
                }
            }
        }
        return out
    }
}
