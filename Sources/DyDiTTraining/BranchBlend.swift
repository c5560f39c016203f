import DyDiTKernels
import DyDiTModels

/// Learning-to-Cache's training-time blend (`horseee/learning-to-cache` commit d6cc781,
/// `DiT/models/router_models.py`, `DiTBlock.forward`): each block's attention and MLP branch
/// outputs (after `proj` / `fc2`, before the adaLN gate) are mixed with the outputs kept from
/// an earlier step, `branch = kept·(1 − w) + fresh·(1 − (1 − w))` in the official order of
/// operations, `w` the layer's router weight (attention of block l at `2l`, MLP at `2l + 1`).
/// Set as `TrainableDiT.branchBlend`, a forward pass blends and the backward pass adds
/// `d loss / d w` to `weightGradients`.
public final class BranchBlend {
    public let depth: Int
    let rows: Int, width: Int
    /// The kept branches, `[rows, D]` per block.
    let keptAttention: [AlignedBuffer<Float>], keptMLP: [AlignedBuffer<Float>]
    /// `fresh − kept` of the last blended forward (what `d w` needs).
    let freshMinusKeptAttention: [AlignedBuffer<Float>], freshMinusKeptMLP: [AlignedBuffer<Float>]
    /// The blend weights `w`, `[2·depth]`.
    public var weights: [Float]
    /// `d loss / d w`, `[2·depth]`, accumulated by backward passes.
    public var weightGradients: [Float]

    public init(config c: DiTConfig, batch: Int) {
        depth = c.depth
        rows = batch * c.tokens
        width = c.hiddenSize
        func buffers() -> [AlignedBuffer<Float>] { (0..<c.depth).map { _ in AlignedBuffer<Float>(count: batch * c.tokens * c.hiddenSize) } }
        keptAttention = buffers()
        keptMLP = buffers()
        freshMinusKeptAttention = buffers()
        freshMinusKeptMLP = buffers()
        weights = [Float](repeating: 1, count: 2 * c.depth)
        weightGradients = [Float](repeating: 0, count: 2 * c.depth)
    }

    /// Keeps the branches of `model`'s last (unblended) forward pass, which ran this batch.
    public func keep(from model: TrainableDiT) {
        guard let saved = model.saved, let ws = model.workspace else { preconditionFailure("keep without a forward pass") }
        precondition(saved.batch * model.config.tokens == rows, "the blend was made for \(rows) rows, the pass ran \(saved.batch * model.config.tokens)")
        for l in 0..<depth {
            keptAttention[l].pointer.update(from: ws.blocks[l].projOut.pointer, count: rows * width)
            keptMLP[l].pointer.update(from: ws.blocks[l].mlpOut.pointer, count: rows * width)
        }
    }

    /// Blends `branch` (the fresh output, `[rows, D]`) in place with layer `layer`'s kept one.
    func blend(_ branch: UnsafeMutablePointer<Float>, layer: Int) {
        let l = layer / 2, attention = layer % 2 == 0
        let kept = UnsafePointer((attention ? keptAttention : keptMLP)[l].pointer)
        let diff = (attention ? freshMinusKeptAttention : freshMinusKeptMLP)[l].pointer
        let reuse = 1 - weights[layer], fresh = 1 - reuse
        for i in 0..<(rows * width) {
            let f = branch[i]
            diff[i] = f - kept[i]
            branch[i] = kept[i] * reuse + f * fresh
        }
    }

    /// From `d branch` (the blended output's gradient, `[rows, D]`): adds `d w` and scales the
    /// gradient in place to the fresh output's, `·(1 − (1 − w))`.
    func backward(_ dBranch: UnsafeMutablePointer<Float>, layer: Int) {
        let l = layer / 2
        let diff = UnsafePointer((layer % 2 == 0 ? freshMinusKeptAttention : freshMinusKeptMLP)[l].pointer)
        let fresh = 1 - (1 - weights[layer])
        var dw = 0.0
        for i in 0..<(rows * width) {
            dw += Double(dBranch[i]) * Double(diff[i])
            dBranch[i] *= fresh
        }
        weightGradients[layer] += Float(dw)
    }
}
