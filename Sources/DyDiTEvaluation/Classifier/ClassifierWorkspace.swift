import DyDiTKernels

/// The activations of one batch through the classifier, kept for the backward pass: each
/// convolution's im2col rows and ReLU output, the features (`fc1`'s ReLU output) and the
/// logits. Sized once for `capacity` images; a larger batch is split by the caller.
final class ClassifierWorkspace {
    let capacity: Int
    /// Per convolution: its input rows `[batch·out², 9·in]` and output `[batch, out, out, outC]`.
    let cols: [AlignedBuffer<Float>]
    let acts: [AlignedBuffer<Float>]
    let features: AlignedBuffer<Float>
    let logits: AlignedBuffer<Float>
    /// Backward scratch: the largest activation gradient and im2col-shaped gradient.
    let gradActs: (AlignedBuffer<Float>, AlignedBuffer<Float>)
    let gradCols: AlignedBuffer<Float>
    let gradFeatures: AlignedBuffer<Float>
    let gradLogits: AlignedBuffer<Float>

    init(_ a: ClassifierArchitecture, capacity: Int) {
        self.capacity = capacity
        var cols: [AlignedBuffer<Float>] = [], acts: [AlignedBuffer<Float>] = []
        var largestAct = a.inputSize * a.inputSize * a.inChannels, largestCols = 0
        for (i, c) in a.convs.enumerated() {
            let out = a.size(after: i)
            cols.append(AlignedBuffer(count: capacity * out * out * 9 * c.inChannels))
            acts.append(AlignedBuffer(count: capacity * out * out * c.outChannels))
            largestAct = max(largestAct, out * out * c.outChannels)
            largestCols = max(largestCols, out * out * 9 * c.inChannels)
        }
        self.cols = cols
        self.acts = acts
        features = AlignedBuffer(count: capacity * a.featureSize)
        logits = AlignedBuffer(count: capacity * a.numClasses)
        gradActs = (AlignedBuffer(count: capacity * largestAct), AlignedBuffer(count: capacity * largestAct))
        gradCols = AlignedBuffer(count: capacity * largestCols)
        gradFeatures = AlignedBuffer(count: capacity * a.featureSize)
        gradLogits = AlignedBuffer(count: capacity * a.numClasses)
    }
}
