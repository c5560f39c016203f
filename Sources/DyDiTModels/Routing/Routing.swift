import DyDiTKernels

/// Which routers a forward pass consults. nil routers mean the dense DiT.
public struct Routing {
    public var width: WidthRouter?
    public var token: TokenRouter?
    /// true: run each block as the smaller dense network its masks leave (sliced weights,
    /// gathered tokens), the fast path; false: DyDiT's masked reference path (full width,
    /// masks multiplied in), which the official code and training use.
    public var fast: Bool

    public init(width: WidthRouter? = nil, token: TokenRouter? = nil, fast: Bool = true) {
        self.width = width
        self.token = token
        self.fast = fast
    }

    public var isDense: Bool { width == nil && token == nil }
}

/// What the routers decided in one forward pass, in the reference files' layouts.
public final class RoutingRecord {
    public let batch: Int, depth: Int, heads: Int, tokens: Int
    /// `[batch, depth, NH]`, 1 = head / MLP group ran.
    public var attnMasks: [Float]
    public var mlpMasks: [Float]
    /// `[batch, depth, N]`, 1 = token went through the MLP.
    public var tokenMasks: [Float]
    /// `[batch, depth, N]` raw token-router outputs (learned router only, else zeros).
    public var tokenLogits: [Float]
    /// `[batch, depth, R]` raw width-router outputs (learned router only, else empty).
    public var attnLogits: [Float]
    public var mlpLogits: [Float]

    public init(batch: Int, config c: DiTConfig, routerOutputs r: Int) {
        self.batch = batch
        depth = c.depth
        heads = c.numHeads
        tokens = c.tokens
        attnMasks = [Float](repeating: 1, count: batch * c.depth * c.numHeads)
        mlpMasks = attnMasks
        tokenMasks = [Float](repeating: 1, count: batch * c.depth * c.tokens)
        tokenLogits = [Float](repeating: 0, count: batch * c.depth * c.tokens)
        attnLogits = [Float](repeating: 0, count: batch * c.depth * r)
        mlpLogits = attnLogits
    }
}
