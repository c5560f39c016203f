// The int8 register tiles of CPUs with AVX-512 VNNI (this target is compiled with AVX-512
// F/BW/VL and VNNI; the dispatcher calls it only when CPUID reports VNNI).

#if DYDIT_X86_ISA
import _Builtin_intrinsics.intel

public enum VNNIKernels {
    /// Raw int32 dot products of 6 rows of A (unsigned bytes `q + 128`, `lda` bytes apart, K
    /// padded to a multiple of 4 with 128s) with `panels` (1 or 4) 16-column weight panels
    /// (`[kGroup][16][4]` bytes, `panelStride` bytes apart) into `out [6, 16·panels]` (`ldo`
    /// int32 apart).
    ///
    /// `vpdpbusd` multiplies unsigned by signed bytes, so the sums hold `Σ (q + 128)·w`: the
    /// caller subtracts `128·Σ_k w` per column. Products are summed in int32 directly, so
    /// nothing saturates.
    @inline(never)
    public static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>, panelStride: Int,
                            panels: Int, out: UnsafeMutablePointer<Int32>, ldo: Int) {
        if panels == 4 {
            tile4(kGroups, a, lda, b, panelStride, out, ldo)
        } else {
            for p in 0..<panels { tile1(kGroups, a, lda, b + p * panelStride, out + p * 16, ldo) }
        }
    }

    typealias I = SIMD16<Int32>

    @inline(__always) static func dp(_ acc: I, _ a: I, _ b: I) -> I {
        unsafeBitCast(_mm512_dpbusd_epi32(unsafeBitCast(acc, to: __m512i.self), unsafeBitCast(a, to: __m512i.self),
                                          unsafeBitCast(b, to: __m512i.self)), to: I.self)
    }

    /// Four bytes of A at `offset` in every lane (a broadcast from memory: no shuffle port).
    @inline(__always) static func broadcast(_ a: UnsafePointer<Int8>, _ offset: Int) -> I {
        I(repeating: UnsafeRawPointer(a + offset).loadUnaligned(as: Int32.self))
    }

    @inline(__always) static func load(_ p: UnsafePointer<Int8>) -> I { UnsafeRawPointer(p).loadUnaligned(as: I.self) }

    static func tile4(_ kg: Int, _ a: UnsafePointer<Int8>, _ lda: Int, _ b: UnsafePointer<Int8>, _ ps: Int,
                      _ out: UnsafeMutablePointer<Int32>, _ ldo: Int) {
        var c00 = I(), c01 = I(), c02 = I(), c03 = I(), c10 = I(), c11 = I(), c12 = I(), c13 = I()
        var c20 = I(), c21 = I(), c22 = I(), c23 = I(), c30 = I(), c31 = I(), c32 = I(), c33 = I()
        var c40 = I(), c41 = I(), c42 = I(), c43 = I(), c50 = I(), c51 = I(), c52 = I(), c53 = I()
        // Row and panel pointers fixed outside the loop, one moving offset per operand: no
        // checked index arithmetic among the dot products (it competes for their ports).
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        let p0 = b, p1 = b + ps, p2 = b + 2 * ps, p3 = b + 3 * ps
        var o = 0, pb = 0
        for _ in 0..<kg {
            let b0 = load(p0 + pb), b1 = load(p1 + pb), b2 = load(p2 + pb), b3 = load(p3 + pb)
            var x = broadcast(a0, o)
            c00 = dp(c00, x, b0); c01 = dp(c01, x, b1); c02 = dp(c02, x, b2); c03 = dp(c03, x, b3)
            x = broadcast(a1, o)
            c10 = dp(c10, x, b0); c11 = dp(c11, x, b1); c12 = dp(c12, x, b2); c13 = dp(c13, x, b3)
            x = broadcast(a2, o)
            c20 = dp(c20, x, b0); c21 = dp(c21, x, b1); c22 = dp(c22, x, b2); c23 = dp(c23, x, b3)
            x = broadcast(a3, o)
            c30 = dp(c30, x, b0); c31 = dp(c31, x, b1); c32 = dp(c32, x, b2); c33 = dp(c33, x, b3)
            x = broadcast(a4, o)
            c40 = dp(c40, x, b0); c41 = dp(c41, x, b1); c42 = dp(c42, x, b2); c43 = dp(c43, x, b3)
            x = broadcast(a5, o)
            c50 = dp(c50, x, b0); c51 = dp(c51, x, b1); c52 = dp(c52, x, b2); c53 = dp(c53, x, b3)
            o &+= 4
            pb &+= 64
        }
        store(out, c00, c01, c02, c03)
        store(out + ldo, c10, c11, c12, c13)
        store(out + 2 * ldo, c20, c21, c22, c23)
        store(out + 3 * ldo, c30, c31, c32, c33)
        store(out + 4 * ldo, c40, c41, c42, c43)
        store(out + 5 * ldo, c50, c51, c52, c53)
    }

    static func tile1(_ kg: Int, _ a: UnsafePointer<Int8>, _ lda: Int, _ b: UnsafePointer<Int8>,
                      _ out: UnsafeMutablePointer<Int32>, _ ldo: Int) {
        var c0 = I(), c1 = I(), c2 = I(), c3 = I(), c4 = I(), c5 = I()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        var o = 0, pb = 0
        for _ in 0..<kg {
            let b0 = load(b + pb)
            c0 = dp(c0, broadcast(a0, o), b0)
            c1 = dp(c1, broadcast(a1, o), b0)
            c2 = dp(c2, broadcast(a2, o), b0)
            c3 = dp(c3, broadcast(a3, o), b0)
            c4 = dp(c4, broadcast(a4, o), b0)
            c5 = dp(c5, broadcast(a5, o), b0)
            o &+= 4
            pb &+= 64
        }
        let raw = UnsafeMutableRawPointer(out), row = ldo * 4
        raw.storeBytes(of: c0, as: I.self)
        raw.storeBytes(of: c1, toByteOffset: row, as: I.self)
        raw.storeBytes(of: c2, toByteOffset: 2 * row, as: I.self)
        raw.storeBytes(of: c3, toByteOffset: 3 * row, as: I.self)
        raw.storeBytes(of: c4, toByteOffset: 4 * row, as: I.self)
        raw.storeBytes(of: c5, toByteOffset: 5 * row, as: I.self)
    }

    /// `iterations` rounds of 24 independent `vpdpbusd` on registers (64 byte products per
    /// instruction, summed into 16 int32 lanes): the int8 product's arithmetic peak of one core,
    /// as `dydit bench peak --int8` measures it. Returns a value that depends on every sum, so
    /// the loop is not removed.
    @inline(never)
    public static func peakLoop(iterations: Int, seed: Int32) -> Int32 {
        let a = I(repeating: 0x0101_0101), b = I(repeating: seed)
        var r0 = I(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0
        var r8 = r0, r9 = r0, r10 = r0, r11 = r0, r12 = r0, r13 = r0, r14 = r0, r15 = r0
        var r16 = r0, r17 = r0, r18 = r0, r19 = r0, r20 = r0, r21 = r0, r22 = r0, r23 = r0
        for _ in 0..<iterations {
            r0 = dp(r0, a, b); r1 = dp(r1, a, b); r2 = dp(r2, a, b); r3 = dp(r3, a, b)
            r4 = dp(r4, a, b); r5 = dp(r5, a, b); r6 = dp(r6, a, b); r7 = dp(r7, a, b)
            r8 = dp(r8, a, b); r9 = dp(r9, a, b); r10 = dp(r10, a, b); r11 = dp(r11, a, b)
            r12 = dp(r12, a, b); r13 = dp(r13, a, b); r14 = dp(r14, a, b); r15 = dp(r15, a, b)
            r16 = dp(r16, a, b); r17 = dp(r17, a, b); r18 = dp(r18, a, b); r19 = dp(r19, a, b)
            r20 = dp(r20, a, b); r21 = dp(r21, a, b); r22 = dp(r22, a, b); r23 = dp(r23, a, b)
        }
        let s = r0 &+ r1 &+ r2 &+ r3 &+ r4 &+ r5 &+ r6 &+ r7 &+ r8 &+ r9 &+ r10 &+ r11
            &+ r12 &+ r13 &+ r14 &+ r15 &+ r16 &+ r17 &+ r18 &+ r19 &+ r20 &+ r21 &+ r22 &+ r23
        return s.wrappedSum()
    }

    @inline(__always)
    static func store(_ p: UnsafeMutablePointer<Int32>, _ v0: I, _ v1: I, _ v2: I, _ v3: I) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: v0, as: I.self)
        raw.storeBytes(of: v1, toByteOffset: 64, as: I.self)
        raw.storeBytes(of: v2, toByteOffset: 128, as: I.self)
        raw.storeBytes(of: v3, toByteOffset: 192, as: I.self)
    }
}

#else
/// Built for a non-x86 host: the VNNI tiles do not exist there, and the dispatcher never picks
/// them (`Int8Path.isSupported` needs CPUID's AVX-512 VNNI, which such a host cannot report).
public enum VNNIKernels {
    public static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>, panelStride: Int,
                            panels: Int, out: UnsafeMutablePointer<Int32>, ldo: Int) {
        preconditionFailure("the AVX-512 VNNI int8 tiles are not built for this CPU architecture")
    }

    public static func peakLoop(iterations: Int, seed: Int32) -> Int32 {
        preconditionFailure("the AVX-512 VNNI peak loop is not built for this CPU architecture")
    }
}
#endif

import DyDiTKernelABI

/// The VNNI path's entry in the int8 dispatch table (`Int8Path.kernels`).
extension VNNIKernels: Int8TileKernels {}
