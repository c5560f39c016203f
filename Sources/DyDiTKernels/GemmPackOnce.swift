extension Gemm {
    /// Floats `runPackingOnce` needs in `buffer` for a right operand of `n` columns and depth `k`.
    public static func packedCount(n: Int, k: Int, isa: ISA) -> Int {
        Dispatch.packedWeightCount(isa, n: n, k: k)
    }

    /// `run(p)` for an unpacked right operand that changes between calls (training: weights
    /// after each update, activations): B is packed once, in parallel, into `buffer`, instead
    /// of once per row block of every task. Same kernels and K blocking, so the result is
    /// bit-identical to `run(p)`.
    public static func runPackingOnce(_ p: GemmOperands, buffer: UnsafeMutablePointer<Float>, ctx: ComputeContext) {
        if p.m == 0 || p.n == 0 { return }
        // One row block: B is packed once anyway.
        if p.bLayout.isPacked || p.m <= rowBlock || p.k == 0 {
            run(p, ctx: ctx)
            return
        }
        let isa = ctx.isa
        let nr = Dispatch.tile(isa).nr
        let panels = (p.n + nr - 1) / nr
        let tasks = min(panels, 2 * ctx.threadCount)
        ctx.pool.run(tasks: tasks) { task, _ in
            let first = task * panels / tasks, end = (task + 1) * panels / tasks
            if first == end { return }
            let j0 = first * nr, width = min(p.n, end * nr) - j0
            let src = p.bLayout == .rowsNK ? p.bFloats + j0 * p.ldb : p.bFloats + j0
            Dispatch.packRightOperand(isa, src, layout: p.bLayout, n: width, k: p.k, ld: p.ldb, into: buffer + first * p.k * nr)
        }
        var packed = p
        packed.b = UnsafeRawPointer(buffer)
        packed.ldb = p.k
        packed.bLayout = .packed
        run(packed, ctx: ctx)
    }
}
