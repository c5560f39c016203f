import DyDiTKernels
#if canImport(Glibc)
import Glibc
#endif

/// Receives intermediate activations of a forward pass, by the reference files' names
/// (`act/x_embedder`, `act/block3`, …), for parity tests and debugging.
public typealias ActivationObserver = (_ name: String, _ shape: [Int], _ values: UnsafeBufferPointer<Float>) -> Void

/// Which output channels classifier-free guidance mixes.
public enum GuidanceChannels: String, CaseIterable, Sendable {
    /// DiT's `forward_with_cfg`: the first 3 channels (a reproducibility quirk of the
    /// official code; with fewer than 3 output channels, all of them).
    case dit
    /// The eps channels (`in_channels`), the standard form; variance channels are kept.
    case eps

    public func count(_ config: DiTConfig) -> Int {
        switch self {
        case .dit: return min(3, config.outChannels)
        case .eps: return config.inChannels
        }
    }
}

/// A DiT (facebookresearch/DiT `models.py`) run on one compute context: the immutable packed
/// weights (`DiTWeights`, shareable between runners and threads) plus this runner's state —
/// activation workspace, sliced-weight cache, profiler. One runner serves one caller at a
/// time; two tasks sampling concurrently each make their own `DiT(weights:ctx:)` around the
/// same weights.
///
/// Per block: `h += g1·Attn(LN(h)·(1+sc1) + sh1)`, `h += g2·MLP(LN(h)·(1+sc2) + sh2)`, with
/// the six modulations from `Linear(SiLU(c))`, `c = t-embedding + label embedding`. The
/// adaLN linears of all blocks and of the final layer run as one GEMM, since they all read
/// `SiLU(c)`.
public final class DiT {
    public let weights: DiTWeights
    public let ctx: ComputeContext
    public var config: DiTConfig { weights.config }
    public var hasNullClass: Bool { weights.hasNullClass }
    public var precision: PrecisionPlan { weights.precision }

    var patchEmbed: PackedLinear { weights.patchEmbed }
    var posEmbed: AlignedBuffer<Float> { weights.posEmbed }
    var timeIn: PackedLinear { weights.timeIn }
    var timeOut: PackedLinear { weights.timeOut }
    var labelTable: AlignedBuffer<Float> { weights.labelTable }
    typealias Block = DiTWeights.Block
    var blocks: [Block] { weights.blocks }
    var modulation: PackedLinear { weights.modulation }
    var finalLinear: PackedLinear { weights.finalLinear }

    private var workspace: DiTWorkspace?
    /// The token-merging plan of the settings last asked for (its buffers are reused).
    private var mergePlan: TokenMergePlan?
    /// When set, every operation of `forward` adds its wall time here.
    public var profiler: OpProfiler?
    /// Sliced weights of the fast path, per block and mask pattern.
    public let slices: SliceCache
    /// Whether attention's two products run in bf16 (`BF16Attention`): in a bf16 model, and in
    /// an int8 model where the bf16 product runs in hardware, AMX or `vdpbf16ps`
    /// (`PrecisionPlan.attentionInBF16`); fp32 (`Attention`) otherwise.
    public let attentionInBF16: Bool

    /// Packs `p` for `ctx`'s instruction set and makes a runner around it.
    /// - Parameters:
    ///   - sliceBudgetBytes: memory the fast path may keep in sliced weights (default: as much
    ///     as the blocks' own weights).
    ///   - precision: how each linear layer's weights are stored (biases, embeddings and all
    ///     arithmetic stay fp32).
    public convenience init(_ p: DiTParameters, ctx: ComputeContext, sliceBudgetBytes: Int? = nil, precision: PrecisionPlan = .fp32) {
        self.init(weights: DiTWeights(p, isa: ctx.isa, precision: precision), ctx: ctx, sliceBudgetBytes: sliceBudgetBytes)
    }

    /// A runner around packed `weights` (which must be packed for `ctx`'s instruction set).
    public init(weights: DiTWeights, ctx: ComputeContext, sliceBudgetBytes: Int? = nil) {
        precondition(weights.isa == ctx.isa, "weights packed for \(weights.isa) run on a \(ctx.isa) context")
        self.weights = weights
        self.ctx = ctx
        slices = SliceCache(budgetBytes: sliceBudgetBytes ?? weights.blockBytes)
        attentionInBF16 = weights.precision.attentionInBF16(isa: ctx.isa)
    }

    /// Multi-head attention of `batch` samples on a fused qkv buffer, in the model's attention
    /// precision (same arguments as `Attention.forward`).
    func attend(_ qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int, heads: Int, headDim: Int,
                out: UnsafeMutablePointer<Float>, ldo: Int) {
        if attentionInBF16 {
            BF16Attention.forward(qkv: qkv, ldqkv: ldqkv, batch: batch, tokens: tokens, heads: heads, headDim: headDim, out: out,
                                  ldo: ldo, ctx: ctx)
        } else {
            Attention.forward(qkv: qkv, ldqkv: ldqkv, batch: batch, tokens: tokens, heads: heads, headDim: headDim, out: out,
                              ldo: ldo, ctx: ctx)
        }
    }

    /// Bytes of packed weights.
    public var weightBytes: Int { weights.byteCount }

    /// Bytes of the activation buffers (sized for the largest batch seen so far).
    public var workspaceBytes: Int { workspace?.byteCount ?? 0 }

    /// Sizes the activation buffers for `batch` samples ahead of time.
    public func reserve(batch: Int) {
        if workspace.map({ $0.capacity < batch }) ?? true {
            workspace = DiTWorkspace(config: config, capacity: batch)
        }
        ctx.reserveExtraScratch(bytes: attentionInBF16 ? BF16Attention.scratchBytes(tokens: config.tokens, headDim: config.headDim)
                                    : Attention.scratchBytes(tokens: config.tokens, headDim: config.headDim, isa: ctx.isa))
    }

    /// The timestep embeddings `te = MLP(freq(t))`, `[t.count, D]`: what the width routers
    /// read, so their decisions for a whole schedule can be computed ahead of sampling.
    public func timestepEmbeddings(_ t: [Float]) -> [Float] {
        let d = config.hiddenSize
        let freq = AlignedBuffer<Float>(count: t.count * DiTConfig.frequencyDim)
        let hidden = AlignedBuffer<Float>(count: t.count * d)
        var te = [Float](repeating: 0, count: t.count * d)
        TimestepEmbedding.frequencies(t, into: freq.pointer)
        timeIn(freq.pointer, rows: t.count, into: hidden.pointer, activation: .silu, ctx: ctx)
        te.withUnsafeMutableBufferPointer { timeOut(hidden.pointer, rows: t.count, into: $0.baseAddress!, ctx: ctx) }
        return te
    }

    /// Checks inputs before any work: counts, labels in range, finite timesteps.
    public func validate(batch: Int, xCount: Int, t: [Float], y: [Int]) throws {
        guard batch >= 1 else { throw ModelError.badInput("batch must be at least 1") }
        guard xCount == batch * config.imageSize else {
            throw ModelError.badInput("x holds \(xCount) values; a batch of \(batch) [\(config.inChannels), \(config.inputSize), \(config.inputSize)] images needs \(batch * config.imageSize)")
        }
        guard t.count == batch else { throw ModelError.badInput("t holds \(t.count) timesteps for a batch of \(batch)") }
        guard y.count == batch else { throw ModelError.badInput("y holds \(y.count) labels for a batch of \(batch)") }
        if let bad = t.first(where: { !$0.isFinite }) { throw ModelError.badInput("timestep \(bad) is not finite") }
        let maxLabel = hasNullClass ? config.numClasses : config.numClasses - 1
        if let bad = y.first(where: { $0 < 0 || $0 > maxLabel }) {
            let null = hasNullClass ? " (\(config.numClasses) is the unconditional class)" : " (this model has no unconditional class)"
            throw ModelError.badInput("label \(bad) is outside 0...\(maxLabel)\(null)")
        }
    }

    /// `model(x, t, y)`: x `[B, C, H, W]`, t original timesteps `[B]`, y labels `[B]`;
    /// returns `[B, outC, H, W]` (eps, then the variance interpolation `v` with learn_sigma).
    public func forward(x: [Float], t: [Float], y: [Int], routing: Routing = Routing(), record: RoutingRecord? = nil,
                        observer: ActivationObserver? = nil) throws -> [Float] {
        let batch = t.count
        try validate(batch: batch, xCount: x.count, t: t, y: y)
        var out = [Float](repeating: 0, count: batch * config.outChannels * config.inputSize * config.inputSize)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                forward(x: xp.baseAddress!, t: t, y: y, out: op.baseAddress!, routing: routing, record: record,
                        observer: observer)
            }
        }
        return out
    }

    /// DiT's `forward_with_cfg`: runs `[x[:B/2]; x[:B/2]]` with `t`, `y` (cond labels first,
    /// then the null class), mixes `u + scale·(c − u)` on the guided channels, writes the
    /// result to both halves, and keeps each half's own remaining channels.
    public func forwardWithCFG(x: [Float], t: [Float], y: [Int], scale: Float,
                               channels: GuidanceChannels = .dit, routing: Routing = Routing()) throws -> [Float] {
        let batch = t.count
        guard batch % 2 == 0 else { throw ModelError.badInput("guidance needs an even batch (cond half, uncond half); got \(batch)") }
        try validate(batch: batch, xCount: x.count, t: t, y: y)
        let half = batch / 2 * config.imageSize
        var out = try forward(x: Array(x[..<half] + x[..<half]), t: t, y: y, routing: routing)
        Self.guide(&out, batch: batch, channels: channels.count(config), config: config, scale: scale)
        return out
    }

    /// Mixes guided channels in place: rows `[cond; uncond]` of `[B, outC, H, W]`.
    public static func guide(_ out: inout [Float], batch: Int, channels: Int, config: DiTConfig, scale: Float) {
        let plane = config.inputSize * config.inputSize
        let perSample = config.outChannels * plane
        let half = batch / 2
        for b in 0..<half {
            for i in 0..<(channels * plane) {
                let cond = out[b * perSample + i], uncond = out[(b + half) * perSample + i]
                let mixed = uncond + scale * (cond - uncond)
                out[b * perSample + i] = mixed
                out[(b + half) * perSample + i] = mixed
            }
        }
    }

    /// The forward pass on raw buffers (no checks; see `validate`).
    ///
    /// With routers (`routing`), this is DyDiT's masked reference path, as the official code
    /// computes it: every head and channel runs and the masks multiply the head outputs (before
    /// `proj`), the fc1 outputs (by group) and the MLP branch of each token. `record` receives
    /// the decisions.
    ///
    /// `caching` (the dense model or DyDiT's fast path): `.compute` keeps every block's attention
    /// and MLP branch in the cache, `.reuse` skips them and adds the cached ones with this pass's
    /// gates (FORA); a reuse pass runs no token router.
    ///
    /// `residual` (the dense model or DyDiT's fast path): a range of blocks whose residual is
    /// kept (`.fill`), added instead of running them (`.reuse`: Δ-DiT, TeaCache), or either as
    /// the decider says from the range's first modulated input (`.decide`: TeaCache). A skipped
    /// block runs no router; `residual.cache.lastPassReused` tells which happened.
    ///
    /// `merging` (the dense model): ToMe's token merging in every block (`TokenMerging`).
    public func forward(x: UnsafePointer<Float>, t: [Float], y: [Int], out: UnsafeMutablePointer<Float>,
                        routing: Routing = Routing(), record: RoutingRecord? = nil,
                        observer: ActivationObserver? = nil, caching: BlockCaching? = nil,
                        residual: ResidualCaching? = nil, merging: TokenMerging? = nil) {
        let batch = t.count
        let prof = profiler
        @inline(__always) func op(_ name: String, _ body: () -> Void) {
            if let prof { prof.time(name, body) } else { body() }
        }
        reserve(batch: batch)
        let ws = workspace!
        let c = config, d = c.hiddenSize, n = c.tokens, rows = batch * n
        let modStride = modulation.outFeatures

        func observe(_ name: String, _ shape: [Int], _ p: UnsafeMutablePointer<Float>) {
            observer?(name, shape, UnsafeBufferPointer(start: p, count: shape.reduce(1, *)))
        }

        // Patch embedding as a GEMM, then the fixed position embedding.
        let h = ws.h.pointer
        op("embed") {
            DiTConditioning.embedPatches(x, batch: batch, config: c, patches: ws.patches.pointer, into: h) {
                patchEmbed($0, rows: $1, into: $2, ctx: ctx)
            }
        }
        observe("act/x_embedder", [batch, n, d], h)
        op("embed") {
            DiTConditioning.addPositions(h, batch: batch, config: c, position: posEmbed.pointer)
            // c = MLP(freq(t)) + table[y]; every adaLN reads SiLU(c).
            TimestepEmbedding.frequencies(t, into: ws.freq.pointer)
            timeIn(ws.freq.pointer, rows: batch, into: ws.t1.pointer, activation: .silu, ctx: ctx)
            timeOut(ws.t1.pointer, rows: batch, into: ws.te.pointer, ctx: ctx)
        }
        observe("act/t_embedder", [batch, d], ws.te.pointer)
        DiTConditioning.embedLabels(y, table: labelTable.pointer, d: d, into: ws.c.pointer)
        observe("act/y_embedder", [batch, d], ws.c.pointer)
        op("adaLN") {
            DiTConditioning.addTimestep(ws.te.pointer, to: ws.c.pointer, count: batch * d, silu: ws.siluC.pointer)
            modulation(ws.siluC.pointer, rows: batch, into: ws.modulation.pointer, ctx: ctx)
        }
        if let width = routing.width {
            op("routers") {
                width.decide(te: ws.te.pointer, t: t, attn: ws.attnMask.pointer, mlp: ws.mlpMask.pointer,
                             logits: record != nil ? (ws.attnLogits.pointer, ws.mlpLogits.pointer) : nil, ctx: ctx)
            }
            if let record { op("record") { record.storeWidth(ws: ws) } }
        }
        routing.token?.reserve(rows: rows)

        if let caching {
            precondition(routing.isDense || routing.fast, "block caching runs on the dense model or DyDiT's fast path")
            caching.cache.prepare(rows: rows)
            precondition(caching.mode == .compute || caching.cache.isFilled, "reusing a block cache no pass has filled")
            if case let .select(computes) = caching.mode {
                precondition(routing.isDense && merging == nil, "L2C's per-branch reuse runs on the dense model")
                precondition(computes.count == 2 * c.depth, "L2C decides \(computes.count) branches, the model has \(2 * c.depth)")
            }
        }
        if let residual {
            precondition(routing.isDense || routing.fast, "residual caching runs on the dense model or DyDiT's fast path")
            precondition(caching == nil, "one step cache per pass: block branches or a residual")
            precondition(!residual.blocks.isEmpty && residual.blocks.upperBound <= c.depth, "residual range \(residual.blocks) outside 0..<\(c.depth)")
            // A skipping pass keeps nothing: no buffers for it (early exit holds no cache).
            if case .skip = residual.mode {} else { residual.cache.prepare(rows: rows) }
            residual.cache.lastPassReused = false
        }
        if let merging {
            precondition(routing.isDense, "token merging runs on the dense model")
            if mergePlan?.merging != merging { mergePlan = TokenMergePlan(config: c, merging: merging) }
        }
        // r = 0 merges nothing: tomesd then returns the identity (`do_nothing`), the plain block.
        let plan = merging == nil || mergePlan?.r == 0 ? nil : mergePlan
        var skipping = false
        for (l, block) in blocks.enumerated() {
            let mod = UnsafePointer(ws.modulation.pointer + l * 6 * d)
            if let residual, l == residual.blocks.lowerBound {
                skipping = reusesResidual(residual, mod: mod, modStride: modStride, rows: rows, ws: ws, op: op)
            }
            if skipping {
                if l == residual!.blocks.upperBound - 1 { skipping = false }
                observe("act/block\(l)", [batch, n, d], h)
                continue
            }
            if let caching, caching.mode == .reuse {
                reuseBlock(index: l, cache: caching.cache, mod: mod, modStride: modStride, batch: batch, ws: ws, op: op)
            } else if let caching, case let .select(computes) = caching.mode {
                runBlockSelecting(block, index: l, attention: computes[2 * l], mlp: computes[2 * l + 1], cache: caching.cache,
                                  mod: mod, modStride: modStride, batch: batch, ws: ws, op: op)
            } else if let plan {
                runBlockMerged(block, index: l, mod: mod, modStride: modStride, batch: batch, timestep: t[0], ws: ws, plan: plan,
                               keep: caching?.cache, op: op)
            } else if routing.fast && !routing.isDense {
                runBlockFast(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, routing: routing,
                             record: record, keep: caching?.cache, op: op)
            } else {
                runBlock(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, routing: routing,
                         record: record, keep: caching?.cache, op: op)
            }
            if let residual, l == residual.blocks.upperBound - 1 {
                op("cached residual") { residual.cache.finish(h, blocks: residual.blocks) }
            }
            observe("act/block\(l)", [batch, n, d], h)
        }
        if let caching, caching.mode == .compute { caching.cache.markFilled() }

        let fin = UnsafePointer(ws.modulation.pointer + c.depth * 6 * d)
        op("final layer") {
            DiTConditioning.finalLayer(h, batch: batch, config: c, modulation: fin, modStride: modStride, normed: ws.xn.pointer,
                                       tokens: ws.finalTokens.pointer, out: out, linear: { finalLinear($0, rows: $1, into: $2, ctx: ctx) },
                                       ctx: ctx)
        }
        observe("act/final_layer", [batch, n, c.finalDim], ws.finalTokens.pointer)
    }

    /// One DiT block on `ws.h`; `mod` points at the block's six modulations of sample 0
    /// (shift, scale, gate for attention, then for the MLP), sample b `b·modStride` further.
    /// `keep`: a block cache that receives the attention and MLP branches (FORA's compute step).
    private func runBlock(_ block: Block, index l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                          ws: DiTWorkspace, routing: Routing, record: RoutingRecord?, keep: BlockCache?,
                          op: (String, () -> Void) -> Void) {
        let d = config.hiddenSize, n = config.tokens, rows = batch * n
        attentionBranch(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, masked: routing.width != nil, op: op)
        if let keep { op("cache") { keep.attention[l].pointer.update(from: ws.branch.pointer, count: rows * d) } }
        attentionResidualAndTokens(block: l, mod: mod, modStride: modStride, batch: batch, ws: ws, routing: routing,
                                    record: record, op: op)
        mlpBranch(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, masked: routing.width != nil, op: op)
        if let keep { op("cache") { keep.mlp[l].pointer.update(from: ws.branch.pointer, count: rows * d) } }
        op("gated residual") {
            Ops.gatedResidual(ws.h.pointer, adding: ws.branch.pointer, rows: rows, d: d, gate: mod + 5 * d, gateStride: modStride,
                              rowsPerGroup: n, rowMask: routing.token != nil ? UnsafePointer(ws.tokenMask.pointer) : nil,
                              ctx: ctx)
        }
    }

    /// Block l's attention branch on `ws.h` into `ws.branch`: LayerNorm + modulate, qkv,
    /// attention (with `masked`, the heads the width router dropped zeroed), proj.
    private func attentionBranch(_ block: Block, index l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                                 ws: DiTWorkspace, masked: Bool, op: (String, () -> Void) -> Void) {
        let c = config, d = c.hiddenSize, n = c.tokens, rows = batch * n, nh = c.numHeads
        op("norm+modulate") {
            Ops.layerNormModulate(ws.h.pointer, into: ws.xn.pointer, rows: rows, d: d, shift: mod, scale: mod + d,
                                  modStride: modStride, rowsPerGroup: n, ctx: ctx)
        }
        op("qkv") { block.qkv(ws.xn.pointer, rows: rows, into: ws.qkv.pointer, ctx: ctx) }
        op("attention") {
            attend(ws.qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: n, heads: c.numHeads, headDim: c.headDim,
                   out: ws.attn.pointer, ldo: d)
            if masked {
                Ops.maskedActivation(ws.attn.pointer, into: ws.attn.pointer, batch: batch, rowsPerSample: n, cols: d, groups: nh,
                                     mask: ws.attnMask.pointer + l * nh, maskStride: c.depth * nh, activation: .none, ctx: ctx)
            }
        }
        op("proj") { block.proj(ws.attn.pointer, rows: rows, into: ws.branch.pointer, ctx: ctx) }
    }

    /// Block l's MLP branch on `ws.h` into `ws.branch`: LayerNorm + modulate, fc1 + GELU (with
    /// `masked`, the groups the width router dropped zeroed), fc2.
    private func mlpBranch(_ block: Block, index l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                           ws: DiTWorkspace, masked: Bool, op: (String, () -> Void) -> Void) {
        let c = config, d = c.hiddenSize, n = c.tokens, rows = batch * n, nh = c.numHeads
        op("norm+modulate") {
            Ops.layerNormModulate(ws.h.pointer, into: ws.xn.pointer, rows: rows, d: d, shift: mod + 3 * d, scale: mod + 4 * d,
                                  modStride: modStride, rowsPerGroup: n, ctx: ctx)
        }
        op("fc1+gelu") {
            block.fc1(ws.xn.pointer, rows: rows, into: ws.hidden.pointer, activation: .gelu, ctx: ctx)
            // Masking after GELU equals the reference's masking before it: GELU(0) = 0.
            if masked {
                Ops.maskedActivation(ws.hidden.pointer, into: ws.hidden.pointer, batch: batch, rowsPerSample: n, cols: c.mlpHidden,
                                     groups: nh, mask: ws.mlpMask.pointer + l * nh, maskStride: c.depth * nh, activation: .none,
                                     ctx: ctx)
            }
        }
        op("fc2") { block.fc2(ws.hidden.pointer, rows: rows, into: ws.branch.pointer, ctx: ctx) }
    }

    /// One dense block with ToMe: the matching from the block's input, the attention (and with
    /// `mlp` the MLP) branch on the merged tokens, each branch unmerged before its gated residual.
    private func runBlockMerged(_ block: Block, index l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                                timestep: Float, ws: DiTWorkspace, plan: TokenMergePlan, keep: BlockCache?,
                                op: (String, () -> Void) -> Void) {
        let c = config, d = c.hiddenSize, n = c.tokens, rows = batch * n, merged = batch * plan.kept
        let h = ws.h.pointer
        op("token merge") { plan.match(metric: h, batch: batch, block: l, timestep: timestep, ctx: ctx) }
        op("norm+modulate") {
            Ops.layerNormModulate(h, into: ws.xn.pointer, rows: rows, d: d, shift: mod, scale: mod + d,
                                  modStride: modStride, rowsPerGroup: n, ctx: ctx)
        }
        if plan.merging.attention {
            op("token merge") { plan.merge(ws.xn.pointer, into: ws.branch.pointer, d: d, ctx: ctx) }
            op("qkv") { block.qkv(ws.branch.pointer, rows: merged, into: ws.qkv.pointer, ctx: ctx) }
            op("attention") {
                attend(ws.qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: plan.kept, heads: c.numHeads, headDim: c.headDim,
                       out: ws.attn.pointer, ldo: d)
            }
            op("proj") { block.proj(ws.attn.pointer, rows: merged, into: ws.xn.pointer, ctx: ctx) }
            op("token merge") { plan.unmerge(ws.xn.pointer, into: ws.branch.pointer, d: d, ctx: ctx) }
        } else {
            op("qkv") { block.qkv(ws.xn.pointer, rows: rows, into: ws.qkv.pointer, ctx: ctx) }
            op("attention") {
                attend(ws.qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: n, heads: c.numHeads, headDim: c.headDim,
                       out: ws.attn.pointer, ldo: d)
            }
            op("proj") { block.proj(ws.attn.pointer, rows: rows, into: ws.branch.pointer, ctx: ctx) }
        }
        if let keep { op("cache") { keep.attention[l].pointer.update(from: ws.branch.pointer, count: rows * d) } }
        op("gated residual") {
            Ops.gatedResidual(h, adding: ws.branch.pointer, rows: rows, d: d, gate: mod + 2 * d, gateStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        }
        op("norm+modulate") {
            Ops.layerNormModulate(h, into: ws.xn.pointer, rows: rows, d: d, shift: mod + 3 * d, scale: mod + 4 * d,
                                  modStride: modStride, rowsPerGroup: n, ctx: ctx)
        }
        if plan.merging.mlp {
            op("token merge") { plan.merge(ws.xn.pointer, into: ws.branch.pointer, d: d, ctx: ctx) }
            op("fc1+gelu") { block.fc1(ws.branch.pointer, rows: merged, into: ws.hidden.pointer, activation: .gelu, ctx: ctx) }
            op("fc2") { block.fc2(ws.hidden.pointer, rows: merged, into: ws.xn.pointer, ctx: ctx) }
            op("token merge") { plan.unmerge(ws.xn.pointer, into: ws.branch.pointer, d: d, ctx: ctx) }
        } else {
            op("fc1+gelu") { block.fc1(ws.xn.pointer, rows: rows, into: ws.hidden.pointer, activation: .gelu, ctx: ctx) }
            op("fc2") { block.fc2(ws.hidden.pointer, rows: rows, into: ws.branch.pointer, ctx: ctx) }
        }
        if let keep { op("cache") { keep.mlp[l].pointer.update(from: ws.branch.pointer, count: rows * d) } }
        op("gated residual") {
            Ops.gatedResidual(h, adding: ws.branch.pointer, rows: rows, d: d, gate: mod + 5 * d, gateStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        }
    }

    /// At the first block of a residual range: whether this pass skips the range (then the
    /// kept residual is already added to `h`), or runs it (then `h` is kept to measure the
    /// residual at the range's end).
    private func reusesResidual(_ residual: ResidualCaching, mod: UnsafePointer<Float>, modStride: Int, rows: Int,
                                ws: DiTWorkspace, op: (String, () -> Void) -> Void) -> Bool {
        let c = config, d = c.hiddenSize, h = ws.h.pointer
        let reuse: Bool
        switch residual.mode {
        case .skip:
            residual.cache.lastPassReused = true
            return true
        case .fill: reuse = false
        case .reuse: reuse = true
        case let .decide(decider):
            // The first block's own first operation; its block recomputes it if it runs (one
            // pass over [rows, D], against a whole model skipped when it does not).
            op("norm+modulate") {
                Ops.layerNormModulate(h, into: ws.xn.pointer, rows: rows, d: d, shift: mod, scale: mod + d,
                                      modStride: modStride, rowsPerGroup: c.tokens, ctx: ctx)
            }
            reuse = decider.reuse(modulatedInput: UnsafeBufferPointer(start: ws.xn.pointer, count: rows * d), rows: rows,
                                  tokens: c.tokens)
        }
        if reuse {
            precondition(residual.cache.filled == residual.blocks, "reusing the residual of blocks \(residual.blocks), which the cache does not hold")
            op("cached residual") { residual.cache.apply(to: h) }
            residual.cache.lastPassReused = true
        } else {
            op("cached residual") { residual.cache.begin(h) }
        }
        return reuse
    }

    /// L2C's routed step for one dense block: each branch runs (`attention`, `mlp` true) or
    /// adds its kept output with this pass's gate, as `learning-to-cache` `DiT/models/
    /// dynamic_models.py` `DiTBlock.forward` does with `reuse_att` / `reuse_mlp`.
    private func runBlockSelecting(_ block: Block, index l: Int, attention: Bool, mlp: Bool, cache: BlockCache,
                                   mod: UnsafePointer<Float>, modStride: Int, batch: Int, ws: DiTWorkspace,
                                   op: (String, () -> Void) -> Void) {
        let d = config.hiddenSize, n = config.tokens, rows = batch * n
        var branch = UnsafePointer(cache.attention[l].pointer)
        if attention {
            attentionBranch(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, masked: false, op: op)
            branch = UnsafePointer(ws.branch.pointer)
        }
        op("gated residual") {
            Ops.gatedResidual(ws.h.pointer, adding: branch, rows: rows, d: d, gate: mod + 2 * d, gateStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        }
        branch = UnsafePointer(cache.mlp[l].pointer)
        if mlp {
            mlpBranch(block, index: l, mod: mod, modStride: modStride, batch: batch, ws: ws, masked: false, op: op)
            branch = UnsafePointer(ws.branch.pointer)
        }
        op("gated residual") {
            Ops.gatedResidual(ws.h.pointer, adding: branch, rows: rows, d: d, gate: mod + 5 * d, gateStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        }
    }

    /// FORA's reuse step for one block: `h += g1 ⊙ cached attention`, `h += g2 ⊙ cached MLP`,
    /// with this pass's gates; no attention, no MLP.
    private func reuseBlock(index l: Int, cache: BlockCache, mod: UnsafePointer<Float>, modStride: Int, batch: Int,
                            ws: DiTWorkspace, op: (String, () -> Void) -> Void) {
        let d = config.hiddenSize, n = config.tokens, rows = batch * n
        op("gated residual") {
            Ops.gatedResidual(ws.h.pointer, adding: cache.attention[l].pointer, rows: rows, d: d, gate: mod + 2 * d,
                              gateStride: modStride, rowsPerGroup: n, ctx: ctx)
            Ops.gatedResidual(ws.h.pointer, adding: cache.mlp[l].pointer, rows: rows, d: d, gate: mod + 5 * d,
                              gateStride: modStride, rowsPerGroup: n, ctx: ctx)
        }
    }
}

extension DiT {
    /// `h += g1 ⊙ proj-output` (the branch in `ws.branch`), then the token router's decisions
    /// on the updated `h`: shared by the masked and fast paths.
    func attentionResidualAndTokens(block l: Int, mod: UnsafePointer<Float>, modStride: Int, batch: Int, ws: DiTWorkspace,
                                    routing: Routing, record: RoutingRecord?, op: (String, () -> Void) -> Void) {
        let d = config.hiddenSize, n = config.tokens, rows = batch * n
        op("gated residual") {
            Ops.gatedResidual(ws.h.pointer, adding: ws.branch.pointer, rows: rows, d: d, gate: mod + 2 * d, gateStride: modStride,
                              rowsPerGroup: n, ctx: ctx)
        }
        if let token = routing.token {
            op("routers") {
                token.select(block: l, h: ws.h.pointer, rows: rows, tokens: n, mask: ws.tokenMask.pointer,
                             logits: record != nil ? ws.tokenLogits.pointer : nil, ctx: ctx)
            }
            if let record { op("record") { record.storeTokens(block: l, ws: ws) } }
        }
    }
}

extension RoutingRecord {
    func storeWidth(ws: DiTWorkspace) {
        let n = batch * depth * heads
        attnMasks = Array(UnsafeBufferPointer(start: ws.attnMask.pointer, count: n))
        mlpMasks = Array(UnsafeBufferPointer(start: ws.mlpMask.pointer, count: n))
        attnLogits = Array(UnsafeBufferPointer(start: ws.attnLogits.pointer, count: attnLogits.count))
        mlpLogits = Array(UnsafeBufferPointer(start: ws.mlpLogits.pointer, count: mlpLogits.count))
    }

    /// One row copy per sample: element-wise writes into the class's arrays paid an
    /// exclusivity and uniqueness check each; now 18 ms of a 250-image λ = 0.5 sampling run
    /// (`dydit sample --profile`, row "record").
    func storeTokens(block l: Int, ws: DiTWorkspace) {
        let n = tokens, depth = depth, batch = batch
        let mask = UnsafePointer(ws.tokenMask.pointer), logits = UnsafePointer(ws.tokenLogits.pointer)
        tokenMasks.withUnsafeMutableBufferPointer { masks in
            tokenLogits.withUnsafeMutableBufferPointer { out in
                for b in 0..<batch {
                    let dst = (b * depth + l) * n
                    (masks.baseAddress! + dst).update(from: mask + b * n, count: n)
                    (out.baseAddress! + dst).update(from: logits + b * n, count: n)
                }
            }
        }
    }
}

/// DiT's `TimestepEmbedder.timestep_embedding`, in float32 as PyTorch computes it:
/// `f_k = exp(−ln(10⁴)·k/128)`, `[cos(t·f_k), sin(t·f_k)]` — cos first.
public enum TimestepEmbedding {
    static let frequencies: [Float] = {
        let half = DiTConfig.frequencyDim / 2
        let c = Float(-log(10000.0))
        return (0..<half).map { expf(c * Float($0) / Float(half)) }
    }()

    public static func frequencies(_ t: [Float], into out: UnsafeMutablePointer<Float>) {
        let f = frequencies, half = f.count
        for (b, tb) in t.enumerated() {
            let row = out + b * 2 * half
            for k in 0..<half {
                let arg = tb * f[k]
                row[k] = cosf(arg)
                row[half + k] = sinf(arg)
            }
        }
    }
}
