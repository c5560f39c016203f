import DyDiTKernels

/// A `Linear` layer ready for inference: weights packed for the context's GEMM (fp32 or fp16),
/// bias aligned (fp32).
public struct PackedLinear: @unchecked Sendable {
    public let weight: PackedMatrix
    public let bias: AlignedBuffer<Float>
    public var outFeatures: Int { weight.n }
    public var inFeatures: Int { weight.k }

    /// - Parameters: weight `[out, in]` row-major and bias `[out]`, as in a state dict.
    public init(weight: [Float], bias: [Float], out: Int, in inFeatures: Int, isa: ISA, precision: WeightPrecision = .fp32) {
        precondition(weight.count == out * inFeatures && bias.count == out)
        self.weight = PackedMatrix.packing(weight, n: out, k: inFeatures, isa: isa, precision: precision)
        self.bias = AlignedBuffer(count: out)
        bias.withUnsafeBufferPointer { self.bias.pointer.update(from: $0.baseAddress!, count: out) }
    }

    init(weight: PackedMatrix, bias: [Float]) {
        self.weight = weight
        self.bias = AlignedBuffer(count: bias.count)
        bias.withUnsafeBufferPointer { self.bias.pointer.update(from: $0.baseAddress!, count: bias.count) }
    }

    /// The layer restricted to output features `rows` (weights and bias) and input features
    /// `columns` (weights only; the bias stays whole, as DyDiT keeps `proj.bias`, `fc2.bias`).
    public func sliced(rows: [Int]?, columns: [Int]?) -> PackedLinear {
        let b = rows.map { $0.map { bias.pointer[$0] } } ?? Array(UnsafeBufferPointer(start: bias.pointer, count: outFeatures))
        return PackedLinear(weight: weight.sliced(rows: rows, columns: columns), bias: b)
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
