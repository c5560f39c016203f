import DyDiTKernels

/// DyDiT's fast path: each block runs the smaller dense network its masks leave.
///
/// Attention: the qkv rows and proj columns of the active heads (sliced once per pattern,
/// cached), so the GEMMs and the attention itself shrink with the head count. MLP: the
/// tokens the token router keeps, from the whole batch, gathered into one matrix (each row
/// normalised with its own sample's shift and scale), through fc1/fc2 sliced to the active
/// channel groups, and scattered back with their sample's gate. Results equal the masked
/// path up to summation order.
extension DiT {
    /// Bit u set when unit u of sample b's row for block l is on.
    static func pattern(_ masks: UnsafePointer<Float>, sample b: Int, block l: Int, depth: Int, units: Int) -> UInt64 {
        let row = masks + (b * depth + l) * units
        var p: UInt64 = 0
        for u in 0..<units where row[u] != 0 { p |= 1 << UInt64(u) }
        return p
    }

    static func units(_ pattern: UInt64, _ count: Int) -> [Int] {
        (0..<count).filter { pattern & (1 << UInt64($0)) != 0 }
    }

    /// Evaluates `router` at every timestep of a schedule (all samples share a timestep in a
    /// sampling step) and builds the sliced weights of every pattern it uses, before sampling,
    /// as far as the slice budget allows. Returns the distinct patterns (blocks × kinds) and
    /// the bytes the cache holds.
    @discardableResult
    public func prepareSlices(router: WidthRouter, timesteps: [Double]) -> (patterns: Int, cachedBytes: Int) {
        let c = config, nh = c.numHeads, hd = c.headDim, gw = c.mlpHidden / nh
        let all: UInt64 = nh == 64 ? .max : (1 << UInt64(nh)) - 1
        let (attn, mlp) = WidthMaskExport.masks(router: router, model: self, timesteps: timesteps)
        var seen = Set<SliceCache.Key>()
        for i in timesteps.indices {
            for l in 0..<c.depth {
                let block = blocks[l]
                let pa = attn.withUnsafeBufferPointer { Self.pattern($0.baseAddress!, sample: i, block: l, depth: c.depth, units: nh) }
                let pm = mlp.withUnsafeBufferPointer { Self.pattern($0.baseAddress!, sample: i, block: l, depth: c.depth, units: nh) }
                if pa != all && pa != 0, seen.insert(.init(block: l, kind: .attention, pattern: pa)).inserted {
                    _ = slices.layers(block: l, kind: .attention, pattern: pa) {
                        Self.attentionSlices(block, heads: Self.units(pa, nh), hidden: c.hiddenSize, headDim: hd)
                    }
                }
                if pm != all && pm != 0, seen.insert(.init(block: l, kind: .mlp, pattern: pm)).inserted {
                    _ = slices.layers(block: l, kind: .mlp, pattern: pm) { Self.mlpSlices(block, groups: Self.units(pm, nh), groupWidth: gw) }
                }
            }
        }
        return (seen.count, slices.bytes)
    }

    /// qkv rows `[q | k | v]` of the active heads, and proj's columns of those heads.
    static func attentionSlices(_ block: Block, heads: [Int], hidden d: Int, headDim hd: Int) -> (PackedLinear, PackedLinear) {
        var rows: [Int] = []
        for section in 0..<3 {
            for head in heads { rows += Array((section * d + head * hd)..<(section * d + head * hd + hd)) }
        }
        var cols: [Int] = []
        for head in heads { cols += Array((head * hd)..<(head * hd + hd)) }
        return (block.qkv.sliced(rows: rows, columns: nil), block.proj.sliced(rows: nil, columns: cols))
    }

    /// fc1 rows and fc2 columns of the active channel groups.
    static func mlpSlices(_ block: Block, groups: [Int], groupWidth gw: Int) -> (PackedLinear, PackedLinear) {
        var channels: [Int] = []
        for g in groups { channels += Array((g * gw)..<(g * gw + gw)) }
        return (block.fc1.sliced(rows: channels, columns: nil), block.fc2.sliced(rows: nil, columns: channels))
    }

    /// `keep`: a block cache receiving the attention branch of every row and the MLP branch of
    /// the kept tokens (zero for the skipped ones, which a reuse step then leaves unchanged).
    func runBlockFast(_ block: Block, index l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                      ws: DiTWorkspace, routing: Routing, record: RoutingRecord?, keep: BlockCache? = nil,
                      op: (String, () -> Void) -> Void) {
        let c = config, d = c.hiddenSize, n = c.tokens, rows = batch * n, nh = c.numHeads, hd = c.headDim
        let all: UInt64 = nh == 64 ? .max : (1 << UInt64(nh)) - 1
        let h = ws.h.pointer
        op("norm+modulate") {
            Ops.layerNormModulate(h, into: ws.xn.pointer, rows: rows, d: d, shift: mod, scale: mod + d,
                                  modStride: modStride, rowsPerGroup: n, ctx: ctx)
        }

        // Attention, per run of consecutive samples sharing a head pattern.
        var b0 = 0
        while b0 < batch {
            let p = routing.width == nil ? all : Self.pattern(ws.attnMask.pointer, sample: b0, block: l, depth: c.depth, units: nh)
            var b1 = b0 + 1
            while b1 < batch, routing.width == nil || Self.pattern(ws.attnMask.pointer, sample: b1, block: l, depth: c.depth, units: nh) == p {
                b1 += 1
            }
            let heads = Self.units(p, nh)
            let runRows = (b1 - b0) * n, first = b0 * n
            if heads.isEmpty {
                // No head: the branch is proj's bias alone.
                for r in first..<(first + runRows) { ws.branch.pointer.advanced(by: r * d).update(from: block.proj.bias.pointer, count: d) }
            } else {
                let (qkv, proj) = p == all ? (block.qkv, block.proj) : slices.layers(block: l, kind: .attention, pattern: p) {
                    Self.attentionSlices(block, heads: heads, hidden: d, headDim: hd)
                }
                let width = heads.count * hd
                op("qkv") { qkv(ws.xn.pointer + first * d, rows: runRows, into: ws.qkv.pointer, ctx: ctx) }
                op("attention") {
                    attend(ws.qkv.pointer, ldqkv: 3 * width, batch: b1 - b0, tokens: n, heads: heads.count, headDim: hd,
                           out: ws.attn.pointer, ldo: width)
                }
                op("proj") { proj(ws.attn.pointer, rows: runRows, into: ws.branch.pointer + first * d, ctx: ctx) }
            }
            b0 = b1
        }
        if let keep {
            op("cache") {
                keep.attention[l].pointer.update(from: ws.branch.pointer, count: rows * d)
                keep.mlp[l].pointer.update(repeating: 0, count: rows * d)
            }
        }
        attentionResidualAndTokens(block: l, mod: mod, modStride: modStride, batch: batch, ws: ws, routing: routing,
                                    record: record, op: op)

        // MLP, per group of samples sharing a channel-group pattern (in order of first sample).
        var groups: [(pattern: UInt64, samples: [Int])] = []
        for b in 0..<batch {
            let p = routing.width == nil ? all : Self.pattern(ws.mlpMask.pointer, sample: b, block: l, depth: c.depth, units: nh)
            if let i = groups.firstIndex(where: { $0.pattern == p }) { groups[i].samples.append(b) } else { groups.append((p, [b])) }
        }
        let gw = c.mlpHidden / nh
        let tokenMask = routing.token == nil ? nil : UnsafePointer(ws.tokenMask.pointer)
        let rowIndex = ws.rowIndex.pointer, rowGroup = ws.rowGroup.pointer
        for (p, samples) in groups {
            var count = 0
            op("token gather") {
                for b in samples {
                    for i in 0..<n where tokenMask == nil || tokenMask![b * n + i] != 0 {
                        rowIndex[count] = Int32(b * n + i)
                        rowGroup[count] = Int32(b)
                        count += 1
                    }
                }
            }
            if count == 0 { continue }
            let active = Self.units(p, nh)
            let gate = mod + 5 * d
            if active.isEmpty {
                // No channel group: each kept token's branch is fc2's bias alone.
                for i in 0..<count { ws.branch.pointer.advanced(by: i * d).update(from: block.fc2.bias.pointer, count: d) }
            } else {
                let (fc1, fc2) = p == all ? (block.fc1, block.fc2) : slices.layers(block: l, kind: .mlp, pattern: p) {
                    Self.mlpSlices(block, groups: active, groupWidth: gw)
                }
                op("norm+modulate") {
                    Ops.layerNormModulateGathered(h, rowIndex: ws.rowIndex.pointer, rowGroup: ws.rowGroup.pointer,
                                                  into: ws.xn.pointer, count: count, d: d, shift: mod + 3 * d,
                                                  scale: mod + 4 * d, modStride: modStride, ctx: ctx)
                }
                op("fc1+gelu") { fc1(ws.xn.pointer, rows: count, into: ws.hidden.pointer, activation: .gelu, ctx: ctx) }
                op("fc2") { fc2(ws.hidden.pointer, rows: count, into: ws.branch.pointer, ctx: ctx) }
            }
            if let keep {
                op("cache") {
                    let cached = keep.mlp[l].pointer
                    for i in 0..<count { (cached + Int(rowIndex[i]) * d).update(from: ws.branch.pointer + i * d, count: d) }
                }
            }
            op("gated residual") {
                Ops.scatterGatedResidual(h, adding: ws.branch.pointer, count: count, d: d, gate: gate, gateStride: modStride,
                                         rowIndex: ws.rowIndex.pointer, rowGroup: ws.rowGroup.pointer, ctx: ctx)
            }
        }
    }
}
