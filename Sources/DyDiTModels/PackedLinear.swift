import DyDiTKernels

/// A `Linear` layer ready for inference: weights packed for the context's GEMM, bias aligned.
public struct PackedLinear: @unchecked Sendable {
    public let weight: PackedMatrix
    public let bias: AlignedBuffer<Float>
    public var outFeatures: Int { weight.n }
    public var inFeatures: Int { weight.k }

    /// - Parameters: weight `[out, in]` row-major and bias `[out]`, as in a state dict.
    public init(weight: [Float], bias: [Float], out: Int, in inFeatures: Int, isa: ISA) {
        precondition(weight.count == out * inFeatures && bias.count == out)
        self.weight = PackedMatrix.packing(weight, n: out, k: inFeatures, isa: isa)
        self.bias = AlignedBuffer(count: out)
        bias.withUnsafeBufferPointer { self.bias.pointer.update(from: $0.baseAddress!, count: out) }
    }

    /// `out[rows, outFeatures] = activation(x · Wᵀ + b)`.
    @inline(__always)
    public func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil,
                               into out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                               activation: Activation = .none, ctx: ComputeContext) {
        Gemm.linear(x, rows: rows, ldx: ldx, weight: weight, bias: bias.pointer, out: out, ldo: ldo,
                    activation: activation, ctx: ctx)
    }

    public var byteCount: Int { weight.byteCount + bias.byteCount }
}
