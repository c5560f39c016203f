import DyDiTIO
import DyDiTKernels
import DyDiTModels

/// A DiT (and, with routers, a DyDiT) in training form: parameters and gradients in flat
/// `ParameterSet`s under their official names, a forward pass that keeps what the backward
/// pass needs, and the backward pass itself, all on the GEMM and row kernels.
///
/// DyDiT in training follows the official code: routers decide with the Gumbel-sigmoid
/// straight-through estimator (`soft = sigmoid((logit + L)/τ)`, forward `1[soft > 0.5]`,
/// backward through `soft`), masks multiply the head outputs, the fc1 outputs before GELU and
/// each token's MLP branch; the complete model (`routerNoise == nil`) runs without routers.
public final class TrainableDiT {
    public let config: DiTConfig
    public let hasNullClass: Bool
    public let routerFormat: RouterParameters.Format?
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    public let ctx: ComputeContext
    /// Gumbel-sigmoid temperature τ.
    public var temperature: Float = 5
    /// What a dynamic pass routes (the ablations of `WidthLearning` / `TokenLearning`): with
    /// width routing off every head and group stays on; tokens as `tokenLearning` says.
    public var learnsWidth = true
    public var tokenLearning = TokenLearning.dynamic

    /// Offsets of one linear layer's weight `[out, in]` and bias in the parameter set.
    struct LinearSlot {
        let weight: Int, bias: Int, outFeatures: Int, inFeatures: Int
    }

    struct BlockSlots {
        let qkv, proj, fc1, fc2, adaLN: LinearSlot
        let attnRouter, mlpRouter, tokenHidden, tokenOut: LinearSlot?
    }

    let blocks: [BlockSlots]
    let patchEmbed, timeIn, timeOut, finalAdaLN, finalLinear: LinearSlot
    let labelTable: Int, posEmbed: Int
    var workspace: TrainingWorkspace?
    /// Right operands of the linear layers' products, packed once per product.
    var packBuffer = AlignedBuffer<Float>(count: 16)
    /// The linear layers' products in fp32 (the default: the official code's arithmetic) or in
    /// bf16 (`train.products`: both operands rounded, sums fp32, parameters and everything else
    /// fp32 — mixed precision as PyTorch's bf16 autocast does it for `nn.Linear`).
    public var products = TrainingProducts.fp32
    /// The bf16 products' rounded operands.
    let bf16Buffers = BF16ProductBuffers()
    /// What the last forward pass saved: batch size, labels, whether routers ran, the blocks
    /// that ran, and the branch blend it used.
    var saved: (batch: Int, y: [Int], dynamic: Bool, blocks: Int, blend: BranchBlend?)?
    /// Early exit (`train.early_exit`): only the first `activeBlocks` blocks run in the next
    /// forward passes, the others pass `h` through (nil: every block). The trainer sets it per
    /// batch from the batch's timestep interval.
    public var activeBlocks: Int?
    /// L2C's router training: plain (non-dynamic) passes blend each branch with the kept one
    /// (nil: no blending).
    public var branchBlend: BranchBlend?

    /// - Parameter frozen: parameters the optimiser leaves as they are (a static width's zero
    ///   router weights); `pos_embed` is always fixed.
    public init(_ p: DiTParameters, routers: RouterParameters? = nil, frozen: Set<String> = [], ctx: ComputeContext) throws {
        let c = p.config
        if let plan = p.storedPlan {
            throw ModelError.badConfig("weights", "are quantized (\(plan)): training needs the float weights they were made from")
        }
        if let routers, routers.config != c {
            throw ModelError.badConfig("routers", "the routers are for \(routers.config), the model is \(c)")
        }
        config = c
        hasNullClass = p.hasNullClass
        routerFormat = routers?.format
        self.ctx = ctx
        var layout = DiTParameters.shapes(c, nullClass: p.hasNullClass).map { ($0.name, $0.shape, $0.name != "pos_embed") }
        if let routers { layout += RouterParameters.shapes(c, routers.format).map { ($0.name, $0.shape, !frozen.contains($0.name)) } }
        parameters = ParameterSet(layout: layout)
        gradients = parameters.zerosLike()
        for (name, _, _) in layout {
            parameters[name] = p.tensors[name] ?? routers![name]
        }
        let set = parameters
        func slot(_ prefix: String) -> LinearSlot {
            let w = set.entry(prefix + ".weight")
            return LinearSlot(weight: w.offset, bias: set.entry(prefix + ".bias").offset, outFeatures: w.shape[0],
                              inFeatures: w.shape.dropFirst().reduce(1, *))
        }
        typealias L = DiTLayerNames
        blocks = (0..<c.depth).map { i in
            let b = "blocks.\(i).", names = L.block(i)
            let dynamic = routers != nil
            return BlockSlots(qkv: slot(names.qkv), proj: slot(names.proj), fc1: slot(names.fc1),
                              fc2: slot(names.fc2), adaLN: slot(names.adaLN),
                              attnRouter: dynamic ? slot(b + "attn_rate.router") : nil,
                              mlpRouter: dynamic ? slot(b + "mlp_rate.router") : nil,
                              tokenHidden: dynamic ? slot(b + "token_selection.mlp_head.0") : nil,
                              tokenOut: dynamic ? slot(b + "token_selection.mlp_head.2") : nil)
        }
        patchEmbed = slot(L.patchEmbed)
        timeIn = slot(L.timeIn)
        timeOut = slot(L.timeOut)
        finalAdaLN = slot(L.finalAdaLN)
        finalLinear = slot(L.finalLinear)
        labelTable = set.entry(L.labelTable).offset
        posEmbed = set.entry(L.posEmbed).offset
    }

    /// Router outputs per block (NH − 1 with the forced unit, NH for the early release).
    var routerOutputs: Int { routerFormat.map { RouterParameters.outputs(config, $0) } ?? 0 }

    /// The current DiT weights.
    public func ditParameters() -> DiTParameters {
        Self.ditParameters(from: parameters, config: config, hasNullClass: hasNullClass)
    }

    /// The DiT weights of any set with this model's layout (the EMA copy, say).
    public static func ditParameters(from set: ParameterSet, config: DiTConfig, hasNullClass: Bool) -> DiTParameters {
        var tensors: [String: [Float]] = [:]
        for (name, _) in DiTParameters.shapes(config, nullClass: hasNullClass) { tensors[name] = set[name] }
        return DiTParameters(config: config, tensors: tensors, hasNullClass: hasNullClass)
    }

    /// The current router weights (nil for a plain DiT).
    public func routerParameters() -> RouterParameters? {
        Self.routerParameters(from: parameters, config: config, format: routerFormat)
    }

    public static func routerParameters(from set: ParameterSet, config: DiTConfig,
                                        format: RouterParameters.Format?) -> RouterParameters? {
        guard let format else { return nil }
        var tensors: [String: [Float]] = [:]
        for (name, _) in RouterParameters.shapes(config, format) { tensors[name] = set[name] }
        return RouterParameters(config: config, format: format, tensors: tensors)
    }

    func reserve(batch: Int) -> TrainingWorkspace {
        if let ws = workspace, ws.capacity >= batch { return ws }
        workspace = nil
        let ws = TrainingWorkspace(config: config, capacity: batch)
        workspace = ws
        // Room to pack any right operand of linear / linearBackward once per product.
        let rows = batch * config.tokens
        var most = 0
        for s in linearSlots {
            most = max(most, Gemm.packedCount(n: s.outFeatures, k: s.inFeatures, isa: ctx.isa),
                       Gemm.packedCount(n: s.inFeatures, k: s.outFeatures, isa: ctx.isa),
                       Gemm.packedCount(n: s.inFeatures, k: rows, isa: ctx.isa))
        }
        if packBuffer.count < most { packBuffer = AlignedBuffer(count: most) }
        ctx.reserveExtraScratch(bytes: Attention.backwardScratchBytes(tokens: config.tokens))
        return ws
    }

    var linearSlots: [LinearSlot] {
        blocks.flatMap { b in [b.qkv, b.proj, b.fc1, b.fc2, b.adaLN] + [b.attnRouter, b.mlpRouter, b.tokenHidden, b.tokenOut].compactMap { $0 } }
            + [patchEmbed, timeIn, timeOut, finalAdaLN, finalLinear]
    }

    /// Bytes of saved activations and gradient scratch (for the largest batch so far).
    public var workspaceBytes: Int { workspace?.byteCount ?? 0 }

    // MARK: Linear layers on the flat parameters

    /// `y = x·Wᵀ + b`, then `activation`.
    func linear(_ s: LinearSlot, _ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>,
                ldy: Int? = nil, activation: Activation = .none) {
        let p = UnsafePointer(parameters.pointer)
        product(GemmOperands(m: rows, n: s.outFeatures, k: s.inFeatures, a: x, lda: ldx ?? s.inFeatures,
                             b: p + s.weight, ldb: s.inFeatures, bLayout: .rowsNK, c: y, ldc: ldy ?? s.outFeatures,
                             bias: p + s.bias, activation: activation))
    }

    /// One product of a linear layer, forward or backward, in `products`' arithmetic.
    @inline(__always)
    func product(_ op: GemmOperands) {
        switch products {
        case .fp32: Gemm.runPackingOnce(op, buffer: packBuffer.pointer, ctx: ctx)
        case .bf16: BF16Gemm.run(op, buffers: bf16Buffers, ctx: ctx)
        }
    }

    /// Accumulates `dW += dyᵀ·x`, `db += Σ dy` and writes (or adds, with `accumulate`) `dx = dy·W`.
    func linearBackward(_ s: LinearSlot, x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, dy: UnsafePointer<Float>,
                        lddy: Int? = nil, dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false) {
        let p = UnsafePointer(parameters.pointer), g = gradients.pointer
        let o = s.outFeatures, i = s.inFeatures, lddy = lddy ?? o
        product(GemmOperands(m: o, n: i, k: rows, a: dy, lda: lddy, aTransposed: true, b: x, ldb: ldx ?? i,
                             bLayout: .rowsKN, c: g + s.weight, ldc: i, accumulate: true))
        Backward.addColumnSums(dy, ld: lddy, rows: rows, cols: o, into: g + s.bias, ctx: ctx)
        if let dx {
            product(GemmOperands(m: rows, n: i, k: o, a: dy, lda: lddy, b: p + s.weight, ldb: i, bLayout: .rowsKN,
                                 c: dx, ldc: i, accumulate: accumulate))
        }
    }
}
