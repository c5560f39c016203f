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
    /// Whether a decision depends on the calls before it since `reset()` (a random sequence):
    /// then a batch of a sampling pass routes differently when the batches before it did not
    /// run, and a stopped pass cannot resume from its next batch — it is sampled again from the
    /// first. true unless a router says otherwise: a router that does not know is treated as
    /// one that does.
    var dependsOnEarlierCalls: Bool { get }
}

extension TokenRouter {
    public var runsRouterNetwork: Bool { false }
    public func reset() {}
    public var dependsOnEarlierCalls: Bool { true }
}

/// DyDiT's learned SDT router: `Linear(D, D/16) → ReLU → Linear(D/16, 1)` per token,
/// `mask = sigmoid(logit) > 0.5` (eval mode of the official code). The network runs as one
/// fused row kernel (`Ops.routerLogits`), not two GEMMs 16 and 1 columns wide.
public final class LearnedTokenRouter: TokenRouter {
    public let name = "sdt"
    public let runsRouterNetwork = true
    public let dependsOnEarlierCalls = false
    let networks: [RouterMLP]
    private var logitBuffer = AlignedBuffer<Float>(count: 0)

    public init(_ p: RouterParameters) {
        let d = p.config.hiddenSize, h = RouterParameters.tokenHidden(p.config)
        networks = (0..<p.config.depth).map { l in
            let b = "blocks.\(l).token_selection.mlp_head."
            return RouterMLP(w1: p[b + "0.weight"], b1: p[b + "0.bias"], w2: p[b + "2.weight"], b2: p[b + "2.bias"][0],
                             inputs: d, hidden: h)
        }
    }

    public func reserve(rows: Int) {
        if logitBuffer.count < rows { logitBuffer = AlignedBuffer(count: rows) }
    }

    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        reserve(rows: rows)
        let out = logits ?? logitBuffer.pointer
        Ops.routerLogits(h, rows: rows, networks[block], into: out, ctx: ctx)
        for r in 0..<rows {
            // sigmoid(x) > 0.5 is x > 0 except where rounding decides, within ~1e-7 of 0:
            // the exponential is needed only there.
            let x = out[r]
            mask[r] = x > 1e-3 ? 1 : x < -1e-3 ? 0 : 1 / (1 + expf(-x)) > 0.5 ? 1 : 0
        }
    }
}

/// Every token through every MLP.
public final class AllTokensRouter: TokenRouter {
    public let name = "none"
    public let dependsOnEarlierCalls = false
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
    /// Each call draws the next choices of one sequence.
    public let dependsOnEarlierCalls = true
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
