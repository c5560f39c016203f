import DyDiTIO
import DyDiTKernels
#if canImport(Glibc)
import Glibc
#endif

/// Decides, per block and token, whether the token goes through the block's MLP
/// (spatial-wise dynamic tokens, SDT). A skipped token passes the MLP branch unchanged;
/// attention always sees every token.
public protocol TokenRouter: AnyObject {
    var name: String { get }

    /// Fills `mask[rows]` with 1 (through the MLP) or 0 (skip) for block `block`, reading the
    /// residual stream `h [rows, D]` right after the attention update (`tokens` rows per
    /// sample). `logits`, when given, receive the router's raw outputs where it has any.
    func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext)

    /// Bytes of scratch the router needs for `rows` rows (reserved before a forward).
    func reserve(rows: Int)
    /// Whether a router network runs on every token (its MACs are counted).
    var runsRouterNetwork: Bool { get }
    /// Back to the first decision, for a new trajectory (routers that draw random choices).
    func reset()
}

extension TokenRouter {
    public var runsRouterNetwork: Bool { false }
    public func reset() {}
}

/// DyDiT's learned SDT router: `Linear(D, D/16) → ReLU → Linear(D/16, 1)` per token,
/// `mask = sigmoid(logit) > 0.5` (eval mode of the official code).
public final class LearnedTokenRouter: TokenRouter {
    public let name = "sdt"
    public let runsRouterNetwork = true
    let config: DiTConfig
    let hidden: [PackedLinear]
    let output: [PackedLinear]
    private var buffer = AlignedBuffer<Float>(count: 0)
    private var logitBuffer = AlignedBuffer<Float>(count: 0)

    public init(_ p: RouterParameters, isa: ISA) {
        config = p.config
        let d = p.config.hiddenSize, h = RouterParameters.tokenHidden(p.config)
        hidden = (0..<p.config.depth).map {
            PackedLinear(weight: p["blocks.\($0).token_selection.mlp_head.0.weight"],
                         bias: p["blocks.\($0).token_selection.mlp_head.0.bias"], out: h, in: d, isa: isa)
        }
        output = (0..<p.config.depth).map {
            PackedLinear(weight: p["blocks.\($0).token_selection.mlp_head.2.weight"],
                         bias: p["blocks.\($0).token_selection.mlp_head.2.bias"], out: 1, in: h, isa: isa)
        }
    }

    public func reserve(rows: Int) {
        if buffer.count < rows * RouterParameters.tokenHidden(config) {
            buffer = AlignedBuffer(count: rows * RouterParameters.tokenHidden(config))
        }
        if logitBuffer.count < rows { logitBuffer = AlignedBuffer(count: rows) }
    }

    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        reserve(rows: rows)
        hidden[block](h, rows: rows, into: buffer.pointer, activation: .relu, ctx: ctx)
        let out = logits ?? logitBuffer.pointer
        output[block](buffer.pointer, rows: rows, into: out, ctx: ctx)
        for r in 0..<rows { mask[r] = 1 / (1 + expf(-out[r])) > 0.5 ? 1 : 0 }
    }
}

/// Every token through every MLP.
public final class AllTokensRouter: TokenRouter {
    public let name = "none"
    public init() {}
    public func reserve(rows: Int) {}
    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        mask.update(repeating: 1, count: rows)
    }
}

/// Exactly `round(keep·tokens)` tokens (at least one) of each sample through each MLP, a
/// uniformly random subset drawn from a generator seeded once: the sequence of calls
/// decides the masks, so the same run with the same seed repeats them.
public final class RandomTokenRouter: TokenRouter {
    public let name = "random"
    public let keep: Double
    public let seed: UInt64
    private var rng: RandomGenerator

    public init(keep: Double, seed: UInt64) throws {
        guard keep > 0 && keep <= 1 else { throw ModelError.badInput("random token router: keep ratio \(keep) is outside (0, 1]") }
        self.keep = keep
        self.seed = seed
        rng = RandomGenerator(seed: seed)
    }

    public func reset() { rng = RandomGenerator(seed: seed) }
    public func reserve(rows: Int) {}

    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        let kept = max(1, Int((keep * Double(tokens)).rounded()))
        var order = Array(0..<tokens)
        for s in 0..<(rows / tokens) {
            let m = mask + s * tokens
            m.update(repeating: 0, count: tokens)
            for i in 0..<kept {
                order.swapAt(i, i + rng.below(tokens - i))
                m[order[i]] = 1
            }
        }
    }
}
