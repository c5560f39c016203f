import DyDiTKernels

/// A `Linear` layer ready for inference: weights packed for the context's GEMM (fp32 or fp16
/// panels, or int8 per output channel), bias aligned (fp32).
public struct PackedLinear: @unchecked Sendable {
    enum Weights {
        case float(PackedMatrix)
        case int8(Int8Matrix)
    }

    let weights: Weights
    public let bias: AlignedBuffer<Float>
    public var outFeatures: Int {
        switch weights {
        case let .float(m): return m.n
        case let .int8(m): return m.n
        }
    }
    public var inFeatures: Int {
        switch weights {
        case let .float(m): return m.k
        case let .int8(m): return m.k
        }
    }

    /// - Parameters: weight `[out, in]` row-major and bias `[out]`, as in a state dict.
    public init(weight: [Float], bias: [Float], out: Int, in inFeatures: Int, isa: ISA, precision: WeightPrecision = .fp32) {
        precondition(weight.count == out * inFeatures && bias.count == out)
        weights = precision == .int8 ? .int8(Int8Matrix.quantizing(weight, n: out, k: inFeatures))
            : .float(PackedMatrix.packing(weight, n: out, k: inFeatures, isa: isa, precision: precision))
        self.bias = AlignedBuffer(count: out)
        bias.withUnsafeBufferPointer { self.bias.pointer.update(from: $0.baseAddress!, count: out) }
    }

    init(weights: Weights, bias: [Float]) {
        self.weights = weights
        self.bias = AlignedBuffer(count: bias.count)
        bias.withUnsafeBufferPointer { self.bias.pointer.update(from: $0.baseAddress!, count: bias.count) }
    }

    /// The layer restricted to output features `rows` (weights and bias) and input features
    /// `columns` (weights only; the bias stays whole, as DyDiT keeps `proj.bias`, `fc2.bias`).
    /// Sliced from the stored weights in their precision: nothing is rounded again.
    public func sliced(rows: [Int]?, columns: [Int]?) -> PackedLinear {
        let b = rows.map { $0.map { bias.pointer[$0] } } ?? Array(UnsafeBufferPointer(start: bias.pointer, count: outFeatures))
        switch weights {
        case let .float(m): return PackedLinear(weights: .float(m.sliced(rows: rows, columns: columns)), bias: b)
        case let .int8(m): return PackedLinear(weights: .int8(m.sliced(rows: rows, columns: columns)), bias: b)
        }
    }

    /// `out[rows, outFeatures] = activation(x · Wᵀ + b)`.
    @inline(__always)
    public func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil,
                               into out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                               activation: Activation = .none, ctx: ComputeContext) {
        switch weights {
        case let .float(m):
            Gemm.linear(x, rows: rows, ldx: ldx, weight: m, bias: bias.pointer, out: out, ldo: ldo,
                        activation: activation, ctx: ctx)
        case let .int8(m):
            Int8Gemm.linear(x, rows: rows, ldx: ldx, weight: m, bias: bias.pointer, out: out, ldo: ldo,
                            activation: activation, workspace: ctx.int8Workspace, ctx: ctx)
        }
    }

    public var byteCount: Int {
        switch weights {
        case let .float(m): return m.byteCount + bias.byteCount
        case let .int8(m): return m.byteCount + bias.byteCount
        }
    }
}
