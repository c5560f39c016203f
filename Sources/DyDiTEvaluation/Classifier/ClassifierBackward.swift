import DyDiTKernels
import DyDiTTraining
import Foundation

extension FashionClassifier {
    /// The mean cross-entropy of `images` (`[n, size, size]`) against `labels`, its gradient in
    /// `grads` (a `parameters.zerosLike()`), and the number of correct predictions: one
    /// training step's numbers without the update (the trainer reuses its workspace instead).
    public func lossAndGradients(_ images: [Float], labels: [Int], into grads: ParameterSet) -> (loss: Double, correct: Int) {
        let ws = ClassifierWorkspace(architecture, capacity: max(1, labels.count))
        images.withUnsafeBufferPointer { forward($0.baseAddress!, batch: labels.count, ws) }
        return backward(labels: labels, ws, grads: grads)
    }

    /// Mean softmax cross-entropy of the batch in `ws` (after `forward`) against `labels`, and
    /// its gradient with respect to every parameter, written into `grads` (overwritten).
    /// Returns the loss and the number of correct predictions.
    func backward(labels: [Int], _ ws: ClassifierWorkspace, grads: ParameterSet) -> (loss: Double, correct: Int) {
        let a = architecture, p = parameters, batch = labels.count, k = a.numClasses
        grads.zero()
        // Softmax cross-entropy in Double; dlogits = (softmax − onehot) / batch.
        var loss = 0.0, correct = 0
        let logits = ws.logits.pointer, dlogits = ws.gradLogits.pointer
        for i in 0..<batch {
            let row = logits + i * k
            var top = row[0], best = 0
            for j in 1..<k where row[j] > top { top = row[j]; best = j }
            if best == labels[i] { correct += 1 }
            var sum = 0.0
            for j in 0..<k { sum += exp(Double(row[j] - top)) }
            loss += log(sum) - Double(row[labels[i]] - top)
            for j in 0..<k {
                let prob = exp(Double(row[j] - top)) / sum
                dlogits[i * k + j] = Float((prob - (j == labels[i] ? 1 : 0)) / Double(batch))
            }
        }
        // fc2: dW = dlogitsᵀ·features, db = Σ dlogits, dfeatures = dlogits·W (then ReLU's mask).
        let f = a.featureSize
        weightGradient(dout: dlogits, input: ws.features.pointer, rows: batch, outs: k, ins: f, into: grads, "fc2")
        Gemm.run(GemmOperands(m: batch, n: f, k: k, a: dlogits, lda: k, b: p.pointer("fc2.weight"), ldb: f, bLayout: .rowsKN,
                              c: ws.gradFeatures.pointer, ldc: f), ctx: ctx)
        reluMask(ws.gradFeatures.pointer, by: ws.features.pointer, count: batch * f)
        // fc1 onto the flattened last convolution.
        let last = a.convs.count - 1, flat = a.flattenedSize
        weightGradient(dout: ws.gradFeatures.pointer, input: ws.acts[last].pointer, rows: batch, outs: f, ins: flat, into: grads, "fc1")
        var dAct = ws.gradActs.0.pointer, spare = ws.gradActs.1.pointer
        Gemm.run(GemmOperands(m: batch, n: flat, k: f, a: ws.gradFeatures.pointer, lda: f, b: p.pointer("fc1.weight"), ldb: flat,
                              bLayout: .rowsKN, c: dAct, ldc: flat), ctx: ctx)
        // The convolutions, last to first: ReLU's mask, weight gradients from the saved rows,
        // and (but for the first) the input's gradient through the rows' adjoint.
        for i in stride(from: last, through: 0, by: -1) {
            let c = a.convs[i], out = a.size(after: i), rows = batch * out * out, kk = 9 * c.inChannels
            reluMask(dAct, by: ws.acts[i].pointer, count: rows * c.outChannels)
            weightGradient(dout: dAct, input: ws.cols[i].pointer, rows: rows, outs: c.outChannels, ins: kk, into: grads, "conv\(i + 1)")
            guard i > 0 else { break }
            Gemm.run(GemmOperands(m: rows, n: kk, k: c.outChannels, a: dAct, lda: c.outChannels, b: p.pointer("conv\(i + 1).weight"),
                                  ldb: kk, bLayout: .rowsKN, c: ws.gradCols.pointer, ldc: kk), ctx: ctx)
            let inSize = a.size(after: i - 1)
            spare.update(repeating: 0, count: batch * inSize * inSize * c.inChannels)
            Im2Col.accumulate(ws.gradCols.pointer, batch: batch, size: inSize, channels: c.inChannels, stride: c.stride, into: spare, ctx: ctx)
            swap(&dAct, &spare)
        }
        return (loss / Double(batch), correct)
    }

    /// `grads[layer.weight] = doutᵀ·input` (`[outs, ins]`), `grads[layer.bias] = Σ_rows dout`.
    private func weightGradient(dout: UnsafePointer<Float>, input: UnsafePointer<Float>, rows: Int, outs: Int, ins: Int,
                                into grads: ParameterSet, _ layer: String) {
        Gemm.run(GemmOperands(m: outs, n: ins, k: rows, a: dout, lda: outs, aTransposed: true, b: input, ldb: ins, bLayout: .rowsKN,
                              c: grads.pointer("\(layer).weight"), ldc: ins), ctx: ctx)
        Backward.addColumnSums(dout, rows: rows, cols: outs, into: grads.pointer("\(layer).bias"), ctx: ctx)
    }

    /// ReLU's backward: zero the gradient where the layer's output was 0.
    private func reluMask(_ g: UnsafeMutablePointer<Float>, by y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count where y[i] <= 0 { g[i] = 0 }
    }
}
