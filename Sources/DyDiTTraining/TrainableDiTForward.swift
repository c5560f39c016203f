import DyDiTKernels
import DyDiTModels
#if canImport(Glibc)
import Glibc
#endif

/// Supplies the logistic noise `L` of one router call (`call` counts from 0 in call order:
/// per block the attention-width router, the token router, the MLP-width router).
public typealias RouterNoise = (_ call: Int, _ noise: UnsafeMutableBufferPointer<Float>) -> Void

/// DyDiT's Gumbel-sigmoid with the straight-through estimator, in float32 as PyTorch computes it.
enum GumbelGate {
    @inline(__always)
    static func soft(logit: Float, noise: Float, temperature: Float) -> Float {
        1 / (1 + expf(-((logit + noise) / temperature)))
    }

    /// d soft / d logit: the gradient the hard decision passes back.
    @inline(__always)
    static func slope(soft: Float, temperature: Float) -> Float {
        soft * (1 - soft) / temperature
    }
}

extension TrainableDiT {
    /// `model(x, t, y)` in training mode, keeping activations for `backward`. With
    /// `routerNoise` (and routers) this is DyDiT's dynamic pass; without, the complete model.
    /// - Returns: `[B, outC, H, W]`.
    public func forward(x: [Float], t: [Float], y: [Int], routerNoise: RouterNoise? = nil) -> [Float] {
        precondition(x.count == t.count * config.imageSize && y.count == t.count, "inconsistent batch")
        var out = [Float](repeating: 0, count: t.count * config.outChannels * config.inputSize * config.inputSize)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { forward(x: xp.baseAddress!, t: t, y: y, routerNoise: routerNoise, out: $0.baseAddress!) }
        }
        return out
    }

    public func forward(x: UnsafePointer<Float>, t: [Float], y: [Int], routerNoise: RouterNoise?,
                        out: UnsafeMutablePointer<Float>) {
        let c = config, batch = t.count, d = c.hiddenSize, n = c.tokens, rows = batch * n
        let ws = reserve(batch: batch)
        let dynamic = routerNoise != nil && routerFormat != nil
        let p = UnsafePointer(parameters.pointer)
        let modWidth = (6 * c.depth + 2) * d
        let mod = ws.modulation.pointer
        let ran = min(activeBlocks ?? c.depth, c.depth)
        precondition(ran >= 1 && (!dynamic || ran == c.depth), "early exit runs ≥ 1 block, on the dense model")
        let blend = branchBlend
        precondition(blend == nil || (!dynamic && ran == c.depth), "L2C's branch blend runs on the complete dense model")
        saved = (batch, y, dynamic, ran, blend)

        // Patch embedding plus the fixed position embedding.
        let h0 = ws.stream[0].pointer
        DiTConditioning.embedPatches(x, batch: batch, config: c, patches: ws.patches.pointer, into: h0) {
            linear(patchEmbed, $0, rows: $1, into: $2)
        }
        DiTConditioning.addPositions(h0, batch: batch, config: c, position: p + posEmbed)
        // c = MLP(freq(t)) + table[y]; the adaLN linears all read SiLU(c). The timestep MLP's
        // SiLU runs apart from its GEMM: the backward pass needs its input.
        TimestepEmbedding.frequencies(t, into: ws.freq.pointer)
        linear(timeIn, ws.freq.pointer, rows: batch, into: ws.tPre.pointer)
        let tPre = ws.tPre.pointer, tAct = ws.tAct.pointer
        for i in 0..<(batch * d) { tAct[i] = DiTConditioning.silu(tPre[i]) }
        linear(timeOut, tAct, rows: batch, into: ws.te.pointer)
        DiTConditioning.embedLabels(y, table: p + labelTable, d: d, into: ws.c.pointer)
        DiTConditioning.addTimestep(ws.te.pointer, to: ws.c.pointer, count: batch * d, silu: ws.siluC.pointer)
        for (l, s) in blocks.enumerated() {
            linear(s.adaLN, ws.siluC.pointer, rows: batch, into: mod + l * 6 * d, ldy: modWidth)
        }
        linear(finalAdaLN, ws.siluC.pointer, rows: batch, into: mod + c.depth * 6 * d, ldy: modWidth)

        var call = 0
        func noise(_ count: Int) -> UnsafeMutablePointer<Float> {
            routerNoise!(call, UnsafeMutableBufferPointer(start: ws.noise.pointer, count: count))
            call += 1
            return ws.noise.pointer
        }
        for (l, s) in blocks.enumerated() {
            // Early exit: the block is the identity (the final layer reads the last one that ran).
            if l >= ran {
                ws.stream[l + 1].pointer.update(from: ws.stream[l].pointer, count: rows * d)
                continue
            }
            let keep = ws.blocks[l]
            let hIn = ws.stream[l].pointer, hOut = ws.stream[l + 1].pointer, h1 = keep.h1.pointer
            let m = mod + l * 6 * d
            if dynamic && learnsWidth {
                decideWidth(s.attnRouter!, block: l, batch: batch, noise: noise(batch * routerOutputs),
                            logits: ws.attnLogits.pointer, soft: ws.attnSoft.pointer, mask: ws.attnMask.pointer)
            } else if dynamic {
                allOn(ws.attnMask.pointer, block: l, batch: batch)
                allOn(ws.mlpMask.pointer, block: l, batch: batch)
            }
            Ops.layerNormModulate(hIn, into: keep.xn1.pointer, rows: rows, d: d, shift: m, scale: m + d, modStride: modWidth,
                                  rowsPerGroup: n, ctx: ctx)
            linear(s.qkv, keep.xn1.pointer, rows: rows, into: keep.qkv.pointer)
            Attention.forwardKeepingProbabilities(qkv: keep.qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: n,
                                                  heads: c.numHeads, headDim: c.headDim,
                                                  probabilities: keep.probabilities.pointer, out: keep.attention.pointer,
                                                  ldo: d, ctx: ctx)
            var projIn = keep.attention.pointer
            if dynamic {
                Ops.maskedActivation(keep.attention.pointer, into: keep.maskedAttention.pointer, batch: batch,
                                          rowsPerSample: n, cols: d, groups: c.numHeads, mask: ws.attnMask.pointer + l * c.numHeads,
                                          maskStride: c.depth * c.numHeads, activation: .none, ctx: ctx)
                projIn = keep.maskedAttention.pointer
            }
            linear(s.proj, projIn, rows: rows, into: keep.projOut.pointer)
            blend?.blend(keep.projOut.pointer, layer: 2 * l)
            h1.update(from: hIn, count: rows * d)
            Ops.gatedResidual(h1, adding: keep.projOut.pointer, rows: rows, d: d, gate: m + 2 * d, gateStride: modWidth,
                              rowsPerGroup: n, ctx: ctx)
            if dynamic && tokenLearning != .off {
                linear(s.tokenHidden!, h1, rows: rows, into: keep.tokenHidden.pointer, activation: .relu)
                linear(s.tokenOut!, keep.tokenHidden.pointer, rows: rows, into: keep.tokenLogit.pointer)
                let tokenNoise = noise(rows), tau = temperature
                let logit = keep.tokenLogit.pointer, tokenSoft = keep.tokenSoft.pointer, tokenMask = keep.tokenMask.pointer
                for r in 0..<rows {
                    let soft = GumbelGate.soft(logit: logit[r], noise: tokenNoise[r], temperature: tau)
                    tokenSoft[r] = soft
                    tokenMask[r] = soft > 0.5 ? 1 : 0
                }
                if case .layer(let threshold) = tokenLearning {
                    // The layer runs for every token or none: LayerSkipRouter's vote.
                    for b in 0..<batch {
                        let row = tokenMask + b * n
                        var kept = 0.0
                        for i in 0..<n { kept += Double(row[i]) }
                        row.update(repeating: kept / Double(n) >= threshold ? 1 : 0, count: n)
                    }
                }
            } else if dynamic {
                keep.tokenMask.pointer.update(repeating: 1, count: rows)
            }
            if dynamic && learnsWidth {
                decideWidth(s.mlpRouter!, block: l, batch: batch, noise: noise(batch * routerOutputs),
                            logits: ws.mlpLogits.pointer, soft: ws.mlpSoft.pointer, mask: ws.mlpMask.pointer)
            }
            Ops.layerNormModulate(h1, into: keep.xn2.pointer, rows: rows, d: d, shift: m + 3 * d, scale: m + 4 * d,
                                  modStride: modWidth, rowsPerGroup: n, ctx: ctx)
            linear(s.fc1, keep.xn2.pointer, rows: rows, into: keep.pre.pointer)
            Ops.maskedActivation(keep.pre.pointer, into: keep.act.pointer, batch: batch, rowsPerSample: n,
                                      cols: c.mlpHidden, groups: c.numHeads,
                                      mask: dynamic ? UnsafePointer(ws.mlpMask.pointer + l * c.numHeads) : nil,
                                      maskStride: c.depth * c.numHeads, activation: .gelu, ctx: ctx)
            linear(s.fc2, keep.act.pointer, rows: rows, into: keep.mlpOut.pointer)
            blend?.blend(keep.mlpOut.pointer, layer: 2 * l + 1)
            hOut.update(from: h1, count: rows * d)
            Ops.gatedResidual(hOut, adding: keep.mlpOut.pointer, rows: rows, d: d, gate: m + 5 * d, gateStride: modWidth,
                              rowsPerGroup: n, rowMask: dynamic ? UnsafePointer(keep.tokenMask.pointer) : nil, ctx: ctx)
        }

        DiTConditioning.finalLayer(ws.stream[c.depth].pointer, batch: batch, config: c, modulation: mod + c.depth * 6 * d,
                                   modStride: modWidth, normed: ws.xnFinal.pointer, tokens: ws.finalTokens.pointer, out: out,
                                   linear: { linear(finalLinear, $0, rows: $1, into: $2) }, ctx: ctx)
    }

    /// A width router of block `l`: logits `[B, R]` from `te`, soft decisions, and masks
    /// `[B, depth, NH]` with the forced leading units set to 1.
    private func decideWidth(_ s: LinearSlot, block l: Int, batch: Int, noise: UnsafeMutablePointer<Float>,
                             logits: UnsafeMutablePointer<Float>, soft: UnsafeMutablePointer<Float>,
                             mask: UnsafeMutablePointer<Float>) {
        let c = config, r = routerOutputs, nh = c.numHeads, forced = nh - r, tau = temperature
        let ws = workspace!
        linear(s, ws.te.pointer, rows: batch, into: logits + l * r, ldy: c.depth * r)
        for b in 0..<batch {
            let row = mask + (b * c.depth + l) * nh
            for k in 0..<forced { row[k] = 1 }
            for k in 0..<r {
                let i = (b * c.depth + l) * r + k
                soft[i] = GumbelGate.soft(logit: logits[i], noise: noise[b * r + k], temperature: tau)
                row[forced + k] = soft[i] > 0.5 ? 1 : 0
            }
        }
    }

    /// Every head (or group) of block `l` on, for every sample: width routing switched off.
    private func allOn(_ mask: UnsafeMutablePointer<Float>, block l: Int, batch: Int) {
        let nh = config.numHeads
        for b in 0..<batch { (mask + (b * config.depth + l) * nh).update(repeating: 1, count: nh) }
    }

    /// d SiLU(x) / dx = σ(x)·(1 + x·(1 − σ(x))).
    @inline(__always)
    static func siluDerivative(_ x: Float) -> Float {
        let s = 1 / (1 + expf(-x))
        return s * (1 + x * (1 - s))
    }
}
