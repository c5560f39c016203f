// The two-row tile of the 6×16 builds (AVX2, portable; this file is symlinked into
// DyDiTKernelsAVX2) for `fewRowsProduct` (GemmDriver.swift): products of one or two rows,
// adaLN's modulations at batch 1–2. Measured on the AVX2 EPYC, one thread, 2 × 28416 × 384
// (DiT-S/2's stacked adaLN, 43.6 MB): the blocked path read the weights at 9.6 GB/s, where a
// plain read of the same bytes runs at 19–24 GB/s (scripts/read_bandwidth.c); this tile 18 GB/s.

import DyDiTKernelABI

extension ISAKernels {
    /// Columns per two-row tile: two panels.
    static var fewRowsColumns: Int { 2 * nr }

    /// `T[2, 32] = A[2, k] · [panel b | panel b2]` (rows `a0`, `a1`; T's rows 32 floats apart):
    /// eight accumulators, as many independent FMA chains as hide the FMA latency, where one
    /// panel would give four. Each sum starts at zero and adds its products in k order, as
    /// `microkernel` does.
    @inline(never)
    static func twoRowTile<B: PanelElement>(_ k: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
                                            _ b: UnsafePointer<B>, _ b2: UnsafePointer<B>,
                                            _ t: UnsafeMutablePointer<Float>) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V()
        var d00 = V(), d01 = V(), d10 = V(), d11 = V()
        var pb = b, pe = b2
        for i in 0..<k {
            let b0 = B.vector(pb), b1 = B.vector(pb + 8), e0 = B.vector(pe), e1 = B.vector(pe + 8)
            let x = V(repeating: a0[i]), y = V(repeating: a1[i])
            c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c10 = madd(y, b0, c10); c11 = madd(y, b1, c11)
            d00 = madd(x, e0, d00); d01 = madd(x, e1, d01); d10 = madd(y, e0, d10); d11 = madd(y, e1, d11)
            pb += 16; pe += 16
        }
        store(c00, t); store(c01, t + 8); store(d00, t + 16); store(d01, t + 24)
        store(c10, t + 32); store(c11, t + 40); store(d10, t + 48); store(d11, t + 56)
    }
}
