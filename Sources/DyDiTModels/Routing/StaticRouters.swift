import DyDiTIO
import DyDiTKernels

/// Width masks read from a file, indexed by timestep: `attn_masks_all_t` and
/// `mlp_masks_all_t`, each `[T, depth, NH]` with 1 (run) or 0 (skip) — the layout of the
/// reference files' `tdw/*` and of `dydit routers export --all`.
public final class StaticWidthRouter: WidthRouter {
    public let name = "static"
    let config: DiTConfig
    let attn: [Float]
    let mlp: [Float]
    public let timesteps: Int

    public init(file: SafeTensorsFile, config c: DiTConfig) throws {
        var loaded: [[Float]] = []
        var count = 0
        for key in ["attn_masks_all_t", "mlp_masks_all_t"] {
            let t = try file.tensor(key)
            guard t.shape.count == 3, t.shape[1] == c.depth, t.shape[2] == c.numHeads else {
                throw ModelError.badConfig(file.path, "static masks '\(key)' have shape \(t.shape); this model needs [timesteps, \(c.depth), \(c.numHeads)] (depth, heads)")
            }
            if count != 0 && t.shape[0] != count {
                throw ModelError.badConfig(file.path, "'attn_masks_all_t' covers \(count) timesteps but '\(key)' \(t.shape[0])")
            }
            count = t.shape[0]
            let values = t.floats()
            if let bad = values.first(where: { $0 != 0 && $0 != 1 }) {
                throw ModelError.badConfig(file.path, "static masks '\(key)' hold \(bad); masks are 0 or 1")
            }
            loaded.append(values)
        }
        config = c
        attn = loaded[0]
        mlp = loaded[1]
        timesteps = count
    }

    public func decide(te: UnsafePointer<Float>, t: [Float], attn out: UnsafeMutablePointer<Float>,
                       mlp outMLP: UnsafeMutablePointer<Float>, logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?,
                       ctx: ComputeContext) {
        let row = config.depth * config.numHeads
        for (b, tb) in t.enumerated() {
            // Timesteps outside the table take its nearest row.
            let i = min(max(Int(tb.rounded()), 0), timesteps - 1)
            attn.withUnsafeBufferPointer { (out + b * row).update(from: $0.baseAddress! + i * row, count: row) }
            mlp.withUnsafeBufferPointer { (outMLP + b * row).update(from: $0.baseAddress! + i * row, count: row) }
        }
    }
}

/// Token masks read from a file: `token_masks [depth, N]`, the same tokens for every sample.
public final class StaticTokenRouter: TokenRouter {
    public let name = "static"
    public let dependsOnEarlierCalls = false
    let masks: [Float]
    let tokens: Int

    public init(file: SafeTensorsFile, config c: DiTConfig) throws {
        let t = try file.tensor("token_masks")
        guard t.shape == [c.depth, c.tokens] else {
            throw ModelError.badConfig(file.path, "static 'token_masks' have shape \(t.shape); this model needs [\(c.depth), \(c.tokens)] (depth, tokens)")
        }
        masks = t.floats()
        if let bad = masks.first(where: { $0 != 0 && $0 != 1 }) {
            throw ModelError.badConfig(file.path, "static 'token_masks' hold \(bad); masks are 0 or 1")
        }
        tokens = c.tokens
    }

    public func reserve(rows: Int) {}

    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens n: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        for s in 0..<(rows / n) {
            for i in 0..<n { mask[s * n + i] = masks[block * tokens + i] }
        }
    }
}

/// The paper's whole-layer ablation: a block's MLP runs for all of a sample's tokens or for
/// none. It asks `inner` (usually the learned SDT router) which tokens it would keep and runs
/// the layer when at least `threshold` of them would run.
public final class LayerSkipRouter: TokenRouter {
    public let name = "layer-skip"
    public let inner: TokenRouter
    public let threshold: Double

    public init(inner: TokenRouter, threshold: Double = 0.5) throws {
        guard threshold > 0 && threshold <= 1 else { throw ModelError.badInput("layer-skip: threshold \(threshold) is outside (0, 1]") }
        self.inner = inner
        self.threshold = threshold
    }

    public func reserve(rows: Int) { inner.reserve(rows: rows) }
    /// The inner router's network runs on every token to cast the votes.
    public var runsRouterNetwork: Bool { inner.runsRouterNetwork }
    public func reset() { inner.reset() }
    public var dependsOnEarlierCalls: Bool { inner.dependsOnEarlierCalls }

    public func select(block: Int, h: UnsafePointer<Float>, rows: Int, tokens: Int,
                       mask: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?, ctx: ComputeContext) {
        inner.select(block: block, h: h, rows: rows, tokens: tokens, mask: mask, logits: logits, ctx: ctx)
        for s in 0..<(rows / tokens) {
            let m = mask + s * tokens
            var kept = 0.0
            for i in 0..<tokens { kept += Double(m[i]) }
            m.update(repeating: kept / Double(tokens) >= threshold ? 1 : 0, count: tokens)
        }
    }
}

/// Width decisions of a router over a list of timesteps, for plots and static routers.
public enum WidthMaskExport {
    /// `attn` and `mlp`, each `[timesteps.count, depth, NH]`.
    /// `timesteps` as the model receives them (fractional for diffusers' Euler family).
    public static func masks(router: WidthRouter, model: DiT, timesteps: [Double]) -> (attn: [Float], mlp: [Float]) {
        let c = model.config
        let t = timesteps.map(Float.init)
        let te = model.timestepEmbeddings(t)
        var attn = [Float](repeating: 0, count: t.count * c.depth * c.numHeads), mlp = attn
        te.withUnsafeBufferPointer { tp in
            attn.withUnsafeMutableBufferPointer { a in
                mlp.withUnsafeMutableBufferPointer { m in
                    router.decide(te: tp.baseAddress!, t: t, attn: a.baseAddress!, mlp: m.baseAddress!, logits: nil, ctx: model.ctx)
                }
            }
        }
        return (attn, mlp)
    }

    /// One line per timestep, block and kind: `timestep,block,kind,active,unit0,…,unitN−1`.
    public static func csv(timesteps: [Double], attn: [Float], mlp: [Float], depth: Int, heads: Int) -> String {
        var lines = ["timestep,block,kind,active," + (0..<heads).map { "unit\($0)" }.joined(separator: ",")]
        for (i, t) in timesteps.enumerated() {
            for l in 0..<depth {
                for (kind, masks) in [("attn", attn), ("mlp", mlp)] {
                    let row = masks[((i * depth + l) * heads)..<((i * depth + l + 1) * heads)]
                    lines.append("\(t == t.rounded() ? String(Int(t)) : String(t)),\(l),\(kind),\(Int(row.reduce(0, +)))," + row.map { String(Int($0)) }.joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
