// The int8 register tile of the AVX2 build (AVX-512 CPUs without VNNI use it too).

#if DYDIT_X86_ISA
import _Builtin_intrinsics.intel

public enum Int8AVX2 {
    typealias I = SIMD8<Int32>

    /// Raw int32 dot products of 6 rows of A (int8, `lda` bytes apart, K padded to a multiple
    /// of 4 with zeros) with one 16-column weight panel (`[kGroup][16][4]` bytes) into
    /// `out [6, 16]` (`ldo` int32 apart).
    ///
    /// `vpmaddubsw` multiplies unsigned by signed bytes and adds pairs into int16 with
    /// saturation. The sign trick keeps it exact: |a| (≤ 127, unsigned) times b carrying a's
    /// sign (|b| ≤ 127: weights are clamped to ±127), so a pair sums to at most
    /// 2·127·127 = 32258 < 32767; `vpmaddwd` with ones then widens the pairs into int32.
    @inline(never)
    public static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>,
                            out: UnsafeMutablePointer<Int32>, ldo: Int) {
        var c00 = I(), c01 = I(), c10 = I(), c11 = I(), c20 = I(), c21 = I()
        var c30 = I(), c31 = I(), c40 = I(), c41 = I(), c50 = I(), c51 = I()
        let ones = unsafeBitCast(SIMD16<Int16>(repeating: 1), to: __m256i.self)
        @inline(__always) func madd(_ acc: I, _ x: __m256i, _ absX: __m256i, _ w: __m256i) -> I {
            let signed = _mm256_sign_epi8(w, x)
            let pairs = _mm256_maddubs_epi16(absX, signed)
            return acc &+ unsafeBitCast(_mm256_madd_epi16(pairs, ones), to: I.self)
        }
        for g in 0..<kGroups {
            let pb = UnsafeRawPointer(b + g &* 64)
            let b0 = pb.loadUnaligned(as: __m256i.self), b1 = pb.loadUnaligned(fromByteOffset: 32, as: __m256i.self)
            let o = g &* 4
            for r in 0..<6 {
                let x = unsafeBitCast(I(repeating: UnsafeRawPointer(a + r &* lda + o).loadUnaligned(as: Int32.self)), to: __m256i.self)
                let absX = _mm256_sign_epi8(x, x)
                switch r {
                case 0: c00 = madd(c00, x, absX, b0); c01 = madd(c01, x, absX, b1)
                case 1: c10 = madd(c10, x, absX, b0); c11 = madd(c11, x, absX, b1)
                case 2: c20 = madd(c20, x, absX, b0); c21 = madd(c21, x, absX, b1)
                case 3: c30 = madd(c30, x, absX, b0); c31 = madd(c31, x, absX, b1)
                case 4: c40 = madd(c40, x, absX, b0); c41 = madd(c41, x, absX, b1)
                default: c50 = madd(c50, x, absX, b0); c51 = madd(c51, x, absX, b1)
                }
            }
        }
        let raw = UnsafeMutableRawPointer(out), row = ldo * 4
        raw.storeBytes(of: c00, as: I.self); raw.storeBytes(of: c01, toByteOffset: 32, as: I.self)
        raw.storeBytes(of: c10, toByteOffset: row, as: I.self); raw.storeBytes(of: c11, toByteOffset: row + 32, as: I.self)
        raw.storeBytes(of: c20, toByteOffset: 2 * row, as: I.self); raw.storeBytes(of: c21, toByteOffset: 2 * row + 32, as: I.self)
        raw.storeBytes(of: c30, toByteOffset: 3 * row, as: I.self); raw.storeBytes(of: c31, toByteOffset: 3 * row + 32, as: I.self)
        raw.storeBytes(of: c40, toByteOffset: 4 * row, as: I.self); raw.storeBytes(of: c41, toByteOffset: 4 * row + 32, as: I.self)
        raw.storeBytes(of: c50, toByteOffset: 5 * row, as: I.self); raw.storeBytes(of: c51, toByteOffset: 5 * row + 32, as: I.self)
    }
}
#else
/// Built for a non-x86 host: the AVX2 tile does not exist there, and the dispatcher never
/// picks it (`Int8Path.isSupported` needs CPUID's AVX2, which such a host cannot report).
public enum Int8AVX2 {
    public static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>,
                            out: UnsafeMutablePointer<Int32>, ldo: Int) {
        preconditionFailure("the AVX2 int8 tile is not built for this CPU architecture")
    }
}
#endif
