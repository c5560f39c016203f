import DyDiTKernels

/// Dot products between the rows of two feature sets in blocks of rows, on the kernels'
/// Double dot products (`DoubleProducts`): the inner loop of KID's kernel sums and of the
/// nearest-neighbour radii of precision and recall.
enum DotProducts {
    /// Calls `body(rows, products)` for consecutive blocks of `blockRows` rows of `x`, with the
    /// block's dot products against every row of `y`, the blocks spread over `ctx`'s threads.
    /// `body` runs on worker threads: it must write only to places its rows own.
    static func forEachBlock(_ x: FeatureSet, _ y: FeatureSet, blockRows: Int = 64, ctx: ComputeContext,
                             _ body: @escaping (_ rows: Range<Int>, _ products: UnsafePointer<Double>) -> Void) {
        precondition(x.dim == y.dim)
        let blocks = (x.count + blockRows - 1) / blockRows
        let n = y.count, d = x.dim
        let scratch = AlignedBuffer<Double>(count: ctx.threadCount * blockRows * max(n, 1))
        x.values.withUnsafeBufferPointer { xp in
            y.values.withUnsafeBufferPointer { yp in
                ctx.pool.run(tasks: blocks) { b, thread in
                    let rows = (b * blockRows)..<min(x.count, (b + 1) * blockRows)
                    let out = scratch.pointer + thread * blockRows * max(n, 1)
                    DoubleProducts.rows(xp.baseAddress!, rows, yp.baseAddress!, n: n, d: d, into: out, ldo: n, isa: ctx.isa)
                    body(rows, out)
                }
            }
        }
    }
}
