/// The weights of a per-row router network `Linear(D, H) → ReLU → Linear(H, 1)` (DyDiT's
/// token router, H = D/16) in the layout of `Ops.routerLogits`: W1 transposed to `[D, H']`
/// with H' the next multiple of 16 (every build's lanes divide it), zeros past H, so each
/// input feature's weights are one contiguous run of vectors.
public struct RouterMLP: @unchecked Sendable {
    public let inputs: Int
    public let hidden: Int
    public let hiddenPadded: Int
    let w1t: AlignedBuffer<Float>
    let b1: AlignedBuffer<Float>
    let w2: AlignedBuffer<Float>
    public let b2: Float

    /// `w1` is PyTorch's `[hidden, inputs]`, `w2` its `[1, hidden]`.
    public init(w1: UnsafePointer<Float>, b1 bias1: UnsafePointer<Float>, w2 weight2: UnsafePointer<Float>, b2: Float,
                inputs: Int, hidden: Int) {
        precondition(inputs > 0 && hidden > 0, "a router network has inputs and hidden units")
        self.inputs = inputs
        self.hidden = hidden
        hiddenPadded = (hidden + 15) / 16 * 16
        w1t = AlignedBuffer(count: inputs * hiddenPadded)
        b1 = AlignedBuffer(count: hiddenPadded)
        w2 = AlignedBuffer(count: hiddenPadded)
        self.b2 = b2
        for j in 0..<hidden {
            for k in 0..<inputs { w1t.pointer[k * hiddenPadded + j] = w1[j * inputs + k] }
            b1.pointer[j] = bias1[j]
            w2.pointer[j] = weight2[j]
        }
    }
}
