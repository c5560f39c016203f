import DyDiTIO
import DyDiTKernels
#if canImport(Glibc)
import Glibc
#endif

/// Decides, per sample, which attention heads and which MLP channel groups each block runs
/// (timestep-wise dynamic width, TDW). Decisions depend on the timestep only, so they can be
/// computed once per sampling step and turned into smaller dense weights.
public protocol WidthRouter: AnyObject {
    /// The registry name (`tdw`, `none`, `random`, …).
    var name: String { get }

    /// Fills `attn` and `mlp`, each `[batch, depth, NH]`, with 1 (run) or 0 (skip), from the
    /// timestep embeddings `te [batch, D]` and the timesteps `t`. `logits`, when given, receive
    /// the raw router outputs `[batch, depth, R]` (attention, then MLP) where the router has any.
    func decide(te: UnsafePointer<Float>, t: [Float], attn: UnsafeMutablePointer<Float>,
                mlp: UnsafeMutablePointer<Float>, logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?,
                ctx: ComputeContext)
    /// Raw outputs per block of a router network (`R`, what `logits` hold), or nil for a router
    /// without one: the sampling loop sizes its records by it and counts the network's MACs.
    var routerOutputs: Int? { get }
}

extension WidthRouter {
    public var routerOutputs: Int? { nil }
}

/// DyDiT's learned TDW routers: `mask = [1, sigmoid(W·te + b) > 0.5]` per block (or without
/// the forced 1 for the early release), as the official code decides in eval mode.
public final class LearnedWidthRouter: WidthRouter {
    public let name = "tdw"
    let config: DiTConfig
    let format: RouterParameters.Format
    /// All blocks' attention routers stacked `[depth·R, D]`, then the MLP routers.
    let attnRouters, mlpRouters: PackedLinear
    private var scratch: [Float] = []

    public init(_ p: RouterParameters, isa: ISA) {
        config = p.config
        format = p.format
        let c = p.config, r = RouterParameters.outputs(c, p.format), d = c.hiddenSize
        func stack(_ kind: String) -> PackedLinear {
            let names = (0..<c.depth).map { "blocks.\($0).\(kind).router" }
            return PackedLinear(weight: names.flatMap { p[$0 + ".weight"] }, bias: names.flatMap { p[$0 + ".bias"] },
                                out: c.depth * r, in: d, isa: isa)
        }
        attnRouters = stack("attn_rate")
        mlpRouters = stack("mlp_rate")
    }

    public var outputs: Int { RouterParameters.outputs(config, format) }
    public var routerOutputs: Int? { outputs }

    public func decide(te: UnsafePointer<Float>, t: [Float], attn: UnsafeMutablePointer<Float>,
                       mlp: UnsafeMutablePointer<Float>, logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?,
                       ctx: ComputeContext) {
        let batch = t.count, depth = config.depth, nh = config.numHeads, r = outputs
        if scratch.count < batch * depth * r { scratch = [Float](repeating: 0, count: batch * depth * r) }
        for (router, masks, out) in [(attnRouters, attn, logits?.attn), (mlpRouters, mlp, logits?.mlp)] {
            scratch.withUnsafeMutableBufferPointer { s in
                router(te, rows: batch, into: s.baseAddress!, ctx: ctx)
                if let out { out.update(from: s.baseAddress!, count: batch * depth * r) }
                let forced = nh - r
                for b in 0..<batch {
                    for l in 0..<depth {
                        let row = masks + (b * depth + l) * nh
                        for k in 0..<forced { row[k] = 1 }
                        for k in 0..<r {
                            let logit = s[(b * depth + l) * r + k]
                            // sigmoid(logit) > 0.5 in float32, as the reference decides.
                            row[forced + k] = 1 / (1 + expf(-logit)) > 0.5 ? 1 : 0
                        }
                    }
                }
            }
        }
    }
}

/// Every head and group on: the dense model.
public final class AlwaysOnWidthRouter: WidthRouter {
    public let name = "none"
    let config: DiTConfig
    public init(config: DiTConfig) { self.config = config }

    public func decide(te: UnsafePointer<Float>, t: [Float], attn: UnsafeMutablePointer<Float>,
                       mlp: UnsafeMutablePointer<Float>, logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?,
                       ctx: ComputeContext) {
        let n = t.count * config.depth * config.numHeads
        attn.update(repeating: 1, count: n)
        mlp.update(repeating: 1, count: n)
    }
}

/// A random subset of `round(keep·NH)` heads (at least one) and of MLP groups per block,
/// drawn from a generator seeded by `(seed, t)`: the same timestep always gets the same
/// masks, so both halves of a guided batch agree, and the subset is not a prefix.
public final class RandomWidthRouter: WidthRouter {
    public let name = "random"
    let config: DiTConfig
    public let keep: Double
    public let seed: UInt64

    public init(config: DiTConfig, keep: Double, seed: UInt64) throws {
        guard keep > 0 && keep <= 1 else { throw ModelError.badInput("random width router: keep ratio \(keep) is outside (0, 1]") }
        self.config = config
        self.keep = keep
        self.seed = seed
    }

    /// Units kept per block.
    public var kept: Int { max(1, Int((keep * Double(config.numHeads)).rounded())) }

    public func decide(te: UnsafePointer<Float>, t: [Float], attn: UnsafeMutablePointer<Float>,
                       mlp: UnsafeMutablePointer<Float>, logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?,
                       ctx: ComputeContext) {
        let nh = config.numHeads, depth = config.depth
        for (b, tb) in t.enumerated() {
            var rng = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(bitPattern: Int64(tb.bitPattern)))
            for masks in [attn, mlp] {
                for l in 0..<depth {
                    let row = masks + (b * depth + l) * nh
                    row.update(repeating: 0, count: nh)
                    var order = Array(0..<nh)
                    for i in 0..<kept {
                        let j = i + rng.below(nh - i)
                        order.swapAt(i, j)
                        row[order[i]] = 1
                    }
                }
            }
        }
    }
}
