import DyDiTKernels

/// Token merging as ToMe for Stable Diffusion applies it to diffusers' adaLN-Zero transformer
/// block — DiT's block (Bolya & Hoffman 2023; `tomesd` 0.1.3 from PyPI, `merge.py`
/// `bipartite_soft_matching_random2d` and `patch.py` `make_diffusers_tome_block`,
/// `compute_merge`). Per block, from the block's input `h`: the tokens are split into one
/// destination per `sx × sy` window of the token grid (random within the window, or its
/// top-left token) and the sources (the rest); each source is matched to its most cosine-
/// similar destination, and the `r = ⌊N·ratio⌋` best-matched sources (at most all of them) are
/// merged into their destinations by averaging. The attention branch (and with `mlp` the MLP
/// branch) then runs on the `N − r` merged tokens of the modulated input, its output gated and
/// copied back to every original token (a merged source takes its destination's row). No
/// proportional attention: tomesd has none.
public struct TokenMerging: Sendable, Equatable {
    public let ratio: Double
    public let attention: Bool
    public let mlp: Bool
    public let sx: Int, sy: Int
    /// A random destination per window, drawn per block and step (tomesd's `use_rand`; off for
    /// an odd forward batch, as there). Ours is a hash of `seed`, the block and the timestep,
    /// not torch's generator: reproducible here, not bit-equal to tomesd's draws.
    public let random: Bool
    public let seed: UInt64

    public init(ratio: Double, attention: Bool = true, mlp: Bool = false, sx: Int = 2, sy: Int = 2, random: Bool = true,
                seed: UInt64 = 0) {
        self.ratio = ratio
        self.attention = attention
        self.mlp = mlp
        self.sx = sx
        self.sy = sy
        self.random = random
        self.seed = seed
    }

    /// Problems with these settings for a model (nil: fine).
    public func problem(for c: DiTConfig) -> String? {
        let side = c.inputSize / c.patchSize
        if !(ratio >= 0 && ratio < 1) { return "ratio \(ratio) is outside [0, 1)" }
        if sx < 1 || sy < 1 || sx > side || sy > side { return "the window \(sx)×\(sy) does not fit the \(side)×\(side) token grid" }
        if sx * sy < 2 { return "a 1×1 window makes every token a destination: nothing to merge" }
        return nil
    }

    /// Tokens merged away in a block of `n` tokens on a `side`-wide square grid: tomesd's
    /// `r = int(N·ratio)`, at most the number of sources.
    public func removed(_ c: DiTConfig) -> Int {
        let side = c.inputSize / c.patchSize, n = c.tokens
        let destinations = (side / sy) * (side / sx)
        return min(n - destinations, Int(Double(n) * ratio))
    }

    /// Block MACs per image with the merged tokens (METHOD.md §5's counts at `N − r` tokens for
    /// the merged branches); the similarity (`(N − n_dst)·n_dst·D`) is counted too.
    public func blockMACs(_ c: DiTConfig) -> Double {
        guard removed(c) > 0 else { return MACs(c).blocks }
        let n = Double(c.tokens), kept = n - Double(removed(c)), d = Double(c.hiddenSize)
        let side = c.inputSize / c.patchSize
        let destinations = Double((side / sy) * (side / sx))
        let attn = attention ? kept * d * 4 * d + 2 * kept * kept * d : MACs.attentionPerBlock(c)
        let mlp = self.mlp ? 2 * kept * d * Double(c.mlpHidden) : MACs.mlpPerBlock(c)
        return Double(c.depth) * (attn + mlp + (n - destinations) * destinations * d)
    }
}

/// One block's matching for a batch, computed from the block's input, and the merge and
/// unmerge it defines. Buffers are sized once per batch and reused (nothing allocated per
/// block). Public for the parity tests against tomesd.
public final class TokenMergePlan {
    public let config: DiTConfig
    public let merging: TokenMerging
    public let n: Int, side: Int, destinations: Int, sources: Int, r: Int
    /// Tokens kept per sample: `N − r`.
    public var kept: Int { n - r }
    private(set) var batch = 0
    /// Token index of each destination and source (shared by the batch), as tomesd orders them.
    private var dst: [Int32], src: [Int32]
    /// Per sample: the unmerged sources (indices into `src`, best match first after the merged
    /// ones), the merged sources and the destination (index into `dst`) each joins.
    private var unmerged: [Int32] = [], merged: [Int32] = [], target: [Int32] = []
    /// Per sample and destination: 1 + the sources merged into it.
    private var counts: [Float] = []
    /// Per sample: norms, best similarity and destination of each source; the sources by match.
    private var scratch: [Float] = [], order: [Int32] = []
    private var isDestination: [Bool]

    public init(config c: DiTConfig, merging: TokenMerging) {
        config = c
        self.merging = merging
        n = c.tokens
        side = c.inputSize / c.patchSize
        destinations = (side / merging.sy) * (side / merging.sx)
        sources = n - destinations
        r = merging.removed(c)
        dst = [Int32](repeating: 0, count: destinations)
        src = [Int32](repeating: 0, count: sources)
        isDestination = [Bool](repeating: false, count: n)
    }

    private func reserve(batch: Int) {
        guard batch != self.batch else { return }
        self.batch = batch
        unmerged = [Int32](repeating: 0, count: batch * (sources - r))
        merged = [Int32](repeating: 0, count: batch * r)
        target = [Int32](repeating: 0, count: batch * r)
        counts = [Float](repeating: 1, count: batch * destinations)
        scratch = [Float](repeating: 0, count: batch * (n + 2 * sources))
        order = [Int32](repeating: 0, count: batch * sources)
    }

    /// The destination of each window (its position within the window, row-major), then the
    /// destination and source lists in token order (tomesd's argsort of −1/0 flags).
    private func partition(block l: Int, timestep: Float, randomize: Bool) {
        let m = merging, windowsX = side / m.sx, windowsY = side / m.sy
        for t in 0..<n { isDestination[t] = false }
        for wy in 0..<windowsY {
            for wx in 0..<windowsX {
                let pick = randomize ? Int(Self.mix(m.seed, UInt64(l), UInt64(timestep.bitPattern), UInt64(wy * windowsX + wx)) % UInt64(m.sx * m.sy)) : 0
                let y = wy * m.sy + pick / m.sx, x = wx * m.sx + pick % m.sx
                isDestination[y * side + x] = true
            }
        }
        var di = 0, si = 0
        for t in 0..<n {
            if isDestination[t] { dst[di] = Int32(t); di += 1 } else { src[si] = Int32(t); si += 1 }
        }
    }

    /// SplitMix64 over the inputs: a reproducible draw per (seed, block, step, window).
    static func mix(_ values: UInt64...) -> UInt64 {
        var z: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in values {
            z = (z ^ v) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
        }
        return z
    }

    /// Matches every sample's sources to destinations by the cosine similarity of `metric`
    /// (`[batch, N, D]`, the block's input).
    public func match(metric: UnsafePointer<Float>, batch: Int, block l: Int, timestep: Float, ctx: ComputeContext) {
        reserve(batch: batch)
        partition(block: l, timestep: timestep, randomize: merging.random && batch % 2 == 0)
        let d = config.hiddenSize, n = n, destinations = destinations, sources = sources, r = r
        let dst = dst, src = src
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
        order.withUnsafeMutableBufferPointer { orderBuffer in
        unmerged.withUnsafeMutableBufferPointer { unmergedBuffer in
        merged.withUnsafeMutableBufferPointer { mergedBuffer in
        target.withUnsafeMutableBufferPointer { targetBuffer in
        counts.withUnsafeMutableBufferPointer { countBuffer in
            let scratchBase = scratchBuffer.baseAddress!, unm = unmergedBuffer.baseAddress!, mer = mergedBuffer.baseAddress!
            let tar = targetBuffer.baseAddress!, cnt = countBuffer.baseAddress!, orderBase = orderBuffer.baseAddress!
            ctx.pool.run(tasks: batch) { b, _ in
                let x = metric + b * n * d
                let norms = scratchBase + b * (n + 2 * sources)
                let best = norms + n, bestIndex = best + sources
                for t in 0..<n { norms[t] = Ops.dot(x + t * d, x + t * d, count: d).squareRoot() }
                // node_max, node_idx: each source's most similar destination (first on ties, as torch's max).
                for i in 0..<sources {
                    let a = x + Int(src[i]) * d
                    var top = -Float.infinity, topIndex = 0
                    for j in 0..<destinations {
                        let cosine = Ops.dot(a, x + Int(dst[j]) * d, count: d) / (norms[Int(src[i])] * norms[Int(dst[j])])
                        if cosine > top { top = cosine; topIndex = j }
                    }
                    best[i] = top
                    bestIndex[i] = Float(topIndex)
                }
                // edge_idx = node_max.argsort(descending): the r best-matched sources merge
                // (an insertion sort: a few dozen sources; ties keep token order).
                let order = orderBase + b * sources
                for i in 0..<sources {
                    var k = i
                    while k > 0 && best[Int(order[k - 1])] < best[i] { order[k] = order[k - 1]; k -= 1 }
                    order[k] = Int32(i)
                }
                let c = cnt + b * destinations
                for j in 0..<destinations { c[j] = 1 }
                for k in 0..<r {
                    mer[b * r + k] = order[k]
                    let j = Int(bestIndex[Int(order[k])])
                    tar[b * r + k] = Int32(j)
                    c[j] += 1
                }
                for k in r..<sources { unm[b * (sources - r) + k - r] = order[k] }
            }
        }}}}}}
    }

    /// The index lists as pointers, for the per-sample loops (no class property access or
    /// bounds checks inside them).
    private func withIndices<R>(_ body: (_ src: UnsafePointer<Int32>, _ dst: UnsafePointer<Int32>, _ unmerged: UnsafePointer<Int32>,
                                          _ merged: UnsafePointer<Int32>, _ target: UnsafePointer<Int32>, _ counts: UnsafePointer<Float>) -> R) -> R {
        src.withUnsafeBufferPointer { s in dst.withUnsafeBufferPointer { t in unmerged.withUnsafeBufferPointer { u in
            merged.withUnsafeBufferPointer { m in target.withUnsafeBufferPointer { g in counts.withUnsafeBufferPointer { c in
                // An empty list has no base address: any valid pointer does, it is never read.
                let none = UnsafePointer<Int32>(bitPattern: MemoryLayout<Int32>.alignment)!
                return body(s.baseAddress ?? none, t.baseAddress ?? none, u.baseAddress ?? none, m.baseAddress ?? none,
                            g.baseAddress ?? none, c.baseAddress!)
            }}}
        }}}
    }

    /// `y [batch, N − r, D]` = the unmerged sources, then each destination averaged with the
    /// sources merged into it (tomesd's `merge`, mode "mean": the sum divided by the count).
    public func merge(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, d: Int, ctx: ComputeContext) {
        let n = n, kept = kept, unmergedCount = sources - r, r = r, destinations = destinations
        withIndices { src, dst, unmerged, merged, target, counts in
            ctx.pool.run(tasks: batch) { b, _ in
                let xs = x + b * n * d, ys = y + b * kept * d
                for i in 0..<unmergedCount {
                    (ys + i * d).update(from: xs + Int(src[Int(unmerged[b * unmergedCount + i])]) * d, count: d)
                }
                let out = ys + unmergedCount * d
                for j in 0..<destinations { (out + j * d).update(from: xs + Int(dst[j]) * d, count: d) }
                for k in 0..<r {
                    let from = xs + Int(src[Int(merged[b * r + k])]) * d, to = out + Int(target[b * r + k]) * d
                    for e in 0..<d { to[e] += from[e] }
                }
                for j in 0..<destinations {
                    let count = counts[b * destinations + j], row = out + j * d
                    if count > 1 { for e in 0..<d { row[e] /= count } }
                }
            }
        }
    }

    /// `x [batch, N, D]` from `y [batch, N − r, D]`: every token takes its merged row (tomesd's
    /// `unmerge`).
    public func unmerge(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, d: Int, ctx: ComputeContext) {
        let n = n, kept = kept, unmergedCount = sources - r, r = r, destinations = destinations
        withIndices { src, dst, unmerged, merged, target, _ in
            ctx.pool.run(tasks: batch) { b, _ in
                let xs = x + b * n * d, ys = y + b * kept * d
                let dstRows = ys + unmergedCount * d
                for j in 0..<destinations { (xs + Int(dst[j]) * d).update(from: dstRows + j * d, count: d) }
                for i in 0..<unmergedCount {
                    (xs + Int(src[Int(unmerged[b * unmergedCount + i])]) * d).update(from: ys + i * d, count: d)
                }
                for k in 0..<r {
                    (xs + Int(src[Int(merged[b * r + k])]) * d).update(from: dstRows + Int(target[b * r + k]) * d, count: d)
                }
            }
        }
    }
}
