import DyDiTKernels
import DyDiTModels
#if canImport(Glibc)
import Glibc
#endif

extension TrainableDiT {
    /// MACs of one block's attention and MLP for one sample (METHOD §5).
    var blockMACs: (attention: Double, mlp: Double) {
        (MACs.attentionPerBlock(config), MACs.mlpPerBlock(config))
    }

    /// The hard masks of the last dynamic forward: `attn`, `mlp` `[B, depth, NH]`, `token` `[B, depth, N]`.
    public func lastMasks() -> (attention: [Float], mlp: [Float], token: [Float])? {
        guard let saved, saved.dynamic, let ws = workspace else { return nil }
        let c = config, b = saved.batch, n = c.tokens
        var token = [Float](repeating: 0, count: b * c.depth * n)
        for l in 0..<c.depth {
            let mask = ws.blocks[l].tokenMask.pointer
            for s in 0..<b {
                for i in 0..<n { token[(s * c.depth + l) * n + i] = mask[s * n + i] }
            }
        }
        let count = b * c.depth * c.numHeads
        return (Array(UnsafeBufferPointer(start: ws.attnMask.pointer, count: count)),
                Array(UnsafeBufferPointer(start: ws.mlpMask.pointer, count: count)), token)
    }

    /// The FLOPs ratio of the last dynamic forward: the batch mean of
    /// `Σ_l (a·attn + g·k·mlp) / (depth·(attn + mlp))`, with a, g, k the mean head, group and
    /// token masks of sample and block. 1 for the complete model.
    public func flopsRatio() -> Double {
        guard let ws = workspace else { return 1 }
        let c = config, nh = c.numHeads, n = c.tokens
        return meanBlockRatio { b, l in
            (mean(ws.attnMask.pointer + (b * c.depth + l) * nh, nh), mean(ws.mlpMask.pointer + (b * c.depth + l) * nh, nh),
             mean(ws.blocks[l].tokenMask.pointer + b * n, n))
        }
    }

    /// The FLOPs ratio the last dynamic forward would have had if every router had decided as
    /// sampling does — a unit on when `sigmoid(logit) > 0.5`, without the Gumbel noise — on the
    /// same router inputs. Training's `flopsRatio()` counts the noisy decisions, where a unit
    /// with logit z is on with probability sigmoid(z); routers that end undecided (logits near
    /// 0, e.g. a static width's biases) therefore train thinner than they evaluate, and this
    /// figure shows the evaluation's FLOPs while training. The token routers' inputs follow
    /// this forward's noisy attention widths, so for them it is an estimate. 1 for the
    /// complete model.
    public func decidedFlopsRatio() -> Double {
        guard let ws = workspace else { return 1 }
        let c = config, nh = c.numHeads, n = c.tokens, r = routerOutputs, forced = nh - r
        @inline(__always) func on(_ logit: Float) -> Bool { 1 / (1 + expf(-logit)) > 0.5 }
        func width(_ logits: UnsafePointer<Float>, sample b: Int, block l: Int) -> Double {
            guard learnsWidth else { return 1 }
            var kept = forced
            for k in 0..<r where on(logits[(b * c.depth + l) * r + k]) { kept += 1 }
            return Double(kept) / Double(nh)
        }
        func tokens(sample b: Int, block l: Int) -> Double {
            if tokenLearning == .off { return 1 }
            let logit = ws.blocks[l].tokenLogit.pointer + b * n
            var kept = 0
            for i in 0..<n where on(logit[i]) { kept += 1 }
            let k = Double(kept) / Double(n)
            if case .layer(let threshold) = tokenLearning { return k >= threshold ? 1 : 0 }
            return k
        }
        return meanBlockRatio { b, l in
            (width(ws.attnLogits.pointer, sample: b, block: l), width(ws.mlpLogits.pointer, sample: b, block: l), tokens(sample: b, block: l))
        }
    }

    /// METHOD §5's ratio of the last dynamic forward from each sample and block's shares
    /// `(a, g, k)` of heads, MLP groups and tokens: the batch mean of
    /// `Σ_l (a·attn + g·k·mlp) / (depth·(attn + mlp))`; 1 for the complete model.
    private func meanBlockRatio(_ shares: (_ sample: Int, _ block: Int) -> (Double, Double, Double)) -> Double {
        guard let saved, saved.dynamic, workspace != nil else { return 1 }
        let c = config, macs = blockMACs
        var total = 0.0
        for b in 0..<saved.batch {
            for l in 0..<c.depth {
                let (a, g, k) = shares(b, l)
                total += a * macs.attention + g * k * macs.mlp
            }
        }
        return total / Double(saved.batch * c.depth) / (macs.attention + macs.mlp)
    }

    private func mean(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
        (0..<count).reduce(0.0) { $0 + Double(p[$1]) } / Double(count)
    }

    /// Adds the gradient of a loss to `gradients`, from `dOutput` (d loss / d output of the last
    /// forward, `[B, outC, H, W]`) and, for a dynamic pass, `dRatio` (d loss / d FLOPs ratio).
    public func backward(dOutput: [Float], dRatio: Double = 0) {
        dOutput.withUnsafeBufferPointer { backward(dOutput: $0.baseAddress!, dRatio: dRatio) }
    }

    public func backward(dOutput: UnsafePointer<Float>, dRatio: Double) {
        guard let saved, let ws = workspace else { preconditionFailure("backward without a forward pass") }
        let c = config, batch = saved.batch, d = c.hiddenSize, n = c.tokens, rows = batch * n, nh = c.numHeads
        let dynamic = saved.dynamic
        let modWidth = (6 * c.depth + 2) * d
        let mod = ws.modulation.pointer, dMod = ws.dModulation.pointer
        let g = gradients.pointer
        dMod.update(repeating: 0, count: batch * modWidth)
        ws.dTe.pointer.update(repeating: 0, count: batch * d)
        ws.dAttnMask.pointer.update(repeating: 0, count: batch * c.depth * nh)
        ws.dMlpMask.pointer.update(repeating: 0, count: batch * c.depth * nh)
        let dH = ws.dH.pointer, dA = ws.dA.pointer, dB = ws.dB.pointer

        // Final layer.
        Patches.disassemble(dOutput, batch: batch, channels: c.outChannels, height: c.inputSize, width: c.inputSize,
                            patch: c.patchSize, into: ws.dFinal.pointer, ld: c.finalDim)
        linearBackward(finalLinear, x: ws.xnFinal.pointer, rows: rows, dy: ws.dFinal.pointer, dx: dA)
        let fin = c.depth * 6 * d
        Backward.layerNormModulate(x: ws.stream[c.depth].pointer, dy: dA, batch: batch, rowsPerSample: n, d: d,
                                   scale: mod + fin + d, modStride: modWidth, dx: dH, accumulate: false,
                                   dShift: dMod + fin, dScale: dMod + fin + d, dModStride: modWidth, ctx: ctx)

        let macs = blockMACs
        let ratioScale = dRatio / Double(batch * c.depth) / (macs.attention + macs.mlp)
        // Blocks past an early exit were the identity: the gradient passes through, their
        // parameters get none.
        for l in stride(from: saved.blocks - 1, through: 0, by: -1) {
            let s = blocks[l], keep = ws.blocks[l]
            let m = mod + l * 6 * d, dm = dMod + l * 6 * d
            // MLP branch: h_out = h1 + s_tok·g2 ⊙ mlpOut.
            Backward.gatedResidual(dh: dH, x: keep.mlpOut.pointer, batch: batch, rowsPerSample: n, d: d, gate: m + 5 * d,
                                   gateStride: modWidth, rowMask: dynamic ? UnsafePointer(keep.tokenMask.pointer) : nil,
                                   dx: dA, dGate: dm + 5 * d, dGateStride: modWidth,
                                   dMask: dynamic ? ws.dTokenMask.pointer : nil, ctx: ctx)
            saved.blend?.backward(dA, layer: 2 * l + 1)
            linearBackward(s.fc2, x: keep.act.pointer, rows: rows, dy: dA, dx: ws.dHidden.pointer)
            Backward.maskedGelu(pre: keep.pre.pointer, da: ws.dHidden.pointer, dpre: ws.dPre.pointer, batch: batch,
                                rowsPerSample: n, cols: c.mlpHidden, groups: nh,
                                mask: dynamic ? UnsafePointer(ws.mlpMask.pointer + l * nh) : nil, maskStride: c.depth * nh,
                                dMask: dynamic ? ws.dMlpMask.pointer + l * nh : nil, ctx: ctx)
            linearBackward(s.fc1, x: keep.xn2.pointer, rows: rows, dy: ws.dPre.pointer, dx: dA)
            Backward.layerNormModulate(x: keep.h1.pointer, dy: dA, batch: batch, rowsPerSample: n, d: d, scale: m + 4 * d,
                                       modStride: modWidth, dx: dH, accumulate: true, dShift: dm + 3 * d, dScale: dm + 4 * d,
                                       dModStride: modWidth, ctx: ctx)
            if dynamic && tokenLearning != .off {
                tokenRouterBackward(s, block: l, batch: batch, ratioScale: ratioScale)
            }
            if dynamic && learnsWidth {
                widthRouterBackward(s.mlpRouter!, block: l, batch: batch, soft: ws.mlpSoft.pointer, dMask: ws.dMlpMask.pointer,
                                    flops: { b in
                                        // d ratio / d group mask = k·mlp / NH (k: the sample's token keep ratio).
                                        let k = self.mean(keep.tokenMask.pointer + b * n, n)
                                        return ratioScale * k * macs.mlp / Double(nh)
                                    })
            }
            // Attention branch: h1 = h_in + g1 ⊙ proj(mask ⊙ attention).
            Backward.gatedResidual(dh: dH, x: keep.projOut.pointer, batch: batch, rowsPerSample: n, d: d, gate: m + 2 * d,
                                   gateStride: modWidth, rowMask: nil, dx: dA, dGate: dm + 2 * d, dGateStride: modWidth,
                                   dMask: nil, ctx: ctx)
            saved.blend?.backward(dA, layer: 2 * l)
            linearBackward(s.proj, x: dynamic ? keep.maskedAttention.pointer : keep.attention.pointer, rows: rows, dy: dA, dx: dB)
            if dynamic {
                Backward.maskedColumns(dy: dB, x: keep.attention.pointer, dx: dB, batch: batch, rowsPerSample: n, cols: d,
                                       groups: nh, mask: ws.attnMask.pointer + l * nh, maskStride: c.depth * nh,
                                       dMask: ws.dAttnMask.pointer + l * nh, ctx: ctx)
            }
            Attention.backward(qkv: keep.qkv.pointer, ldqkv: 3 * d, probabilities: keep.probabilities.pointer, dOut: dB,
                               lddo: d, batch: batch, tokens: n, heads: nh, headDim: c.headDim, dqkv: ws.dQKV.pointer,
                               lddqkv: 3 * d, ctx: ctx)
            linearBackward(s.qkv, x: keep.xn1.pointer, rows: rows, dy: ws.dQKV.pointer, dx: dA)
            Backward.layerNormModulate(x: ws.stream[l].pointer, dy: dA, batch: batch, rowsPerSample: n, d: d, scale: m + d,
                                       modStride: modWidth, dx: dH, accumulate: true, dShift: dm, dScale: dm + d,
                                       dModStride: modWidth, ctx: ctx)
            if dynamic && learnsWidth {
                widthRouterBackward(s.attnRouter!, block: l, batch: batch, soft: ws.attnSoft.pointer, dMask: ws.dAttnMask.pointer,
                                    flops: { _ in ratioScale * macs.attention / Double(nh) })
            }
        }

        // Patch embedding (pos_embed is fixed).
        linearBackward(patchEmbed, x: ws.patches.pointer, rows: rows, dy: dH, dx: nil)
        // adaLN: every block's and the final layer's modulation read SiLU(c).
        for (l, s) in blocks.enumerated() {
            linearBackward(s.adaLN, x: ws.siluC.pointer, rows: batch, dy: dMod + l * 6 * d, lddy: modWidth,
                           dx: ws.dSiluC.pointer, accumulate: l > 0)
        }
        linearBackward(finalAdaLN, x: ws.siluC.pointer, rows: batch, dy: dMod + fin, lddy: modWidth, dx: ws.dSiluC.pointer,
                       accumulate: !blocks.isEmpty)
        // c = te + table[y]: the label row and the timestep MLP share dc.
        let dTe = ws.dTe.pointer, dSiluC = ws.dSiluC.pointer, cValues = ws.c.pointer
        for b in 0..<batch {
            let row = g + labelTable + saved.y[b] * d
            for j in 0..<d {
                let i = b * d + j
                let dc = dSiluC[i] * Self.siluDerivative(cValues[i])
                row[j] += dc
                dTe[i] += dc
            }
        }
        linearBackward(timeOut, x: ws.tAct.pointer, rows: batch, dy: dTe, dx: ws.dT.pointer)
        let dT = ws.dT.pointer, tPre = ws.tPre.pointer
        for i in 0..<(batch * d) { dT[i] *= Self.siluDerivative(tPre[i]) }
        linearBackward(timeIn, x: ws.freq.pointer, rows: batch, dy: ws.dT.pointer, dx: nil)
    }

    /// Token router of block l: `d logit = (d mask + d ratio·g·mlp/N)·soft·(1 − soft)/τ` (with
    /// whole-layer skip, `d mask` is the mean over the sample's tokens), then
    /// back through `Linear → ReLU → Linear` into the residual stream (`dH`).
    private func tokenRouterBackward(_ s: BlockSlots, block l: Int, batch: Int, ratioScale: Double) {
        let c = config, n = c.tokens, rows = batch * n, nh = c.numHeads
        let ws = workspace!, keep = ws.blocks[l]
        let dLogit = ws.dRouterLogits.pointer, dMask = ws.dTokenMask.pointer, soft = keep.tokenSoft.pointer
        let mlp = blockMACs.mlp, tau = temperature
        let layer: Bool
        if case .layer = tokenLearning { layer = true } else { layer = false }
        for b in 0..<batch {
            let g = mean(ws.mlpMask.pointer + (b * c.depth + l) * nh, nh)
            let flops = Float(ratioScale * g * mlp / Double(n))
            // Whole-layer skip: every token carries the layer mask, whose gradient is the sum of
            // the tokens'; through the share of soft decisions each token gets 1/N of it.
            var shared: Float = 0
            if layer { for i in 0..<n { shared += dMask[b * n + i] }; shared /= Float(n) }
            for i in 0..<n {
                let r = b * n + i
                dLogit[r] = ((layer ? shared : dMask[r]) + flops) * GumbelGate.slope(soft: soft[r], temperature: tau)
            }
        }
        linearBackward(s.tokenOut!, x: keep.tokenHidden.pointer, rows: rows, dy: dLogit, dx: ws.dTokenHidden.pointer)
        let hidden = RouterParameters.tokenHidden(c)
        let hiddenValues = keep.tokenHidden.pointer, dHidden = ws.dTokenHidden.pointer
        for i in 0..<(rows * hidden) where hiddenValues[i] <= 0 { dHidden[i] = 0 }
        linearBackward(s.tokenHidden!, x: keep.h1.pointer, rows: rows, dy: ws.dTokenHidden.pointer, dx: ws.dH.pointer,
                       accumulate: true)
    }

    /// A width router of block l: `d logit = (d mask + flops(b))·soft·(1 − soft)/τ` for the
    /// R learned units, then back through the linear into `te`.
    private func widthRouterBackward(_ s: LinearSlot, block l: Int, batch: Int, soft: UnsafePointer<Float>,
                                     dMask: UnsafePointer<Float>, flops: (Int) -> Double) {
        let c = config, r = routerOutputs, nh = c.numHeads, forced = nh - r
        let ws = workspace!
        let dLogit = ws.dRouterLogits.pointer
        for b in 0..<batch {
            let f = Float(flops(b))
            for k in 0..<r {
                let i = (b * c.depth + l) * r + k
                dLogit[b * r + k] = (dMask[(b * c.depth + l) * nh + forced + k] + f)
                    * GumbelGate.slope(soft: soft[i], temperature: temperature)
            }
        }
        linearBackward(s, x: ws.te.pointer, rows: batch, dy: dLogit, dx: ws.dTe.pointer, accumulate: true)
    }
}
