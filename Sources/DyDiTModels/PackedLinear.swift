import DyDiTKernels

/// A `Linear` layer ready for inference: weights packed for the context's GEMM (fp32 or fp16
/// panels, or int8 per output channel), bias aligned (fp32).
public struct PackedLinear: @unchecked Sendable {
    enum Weights {
        case float(PackedMatrix)
        case int8(Int8Matrix)
        case bf16(BF16Matrix)
    }

    let weights: Weights
    public let bias: AlignedBuffer<Float>
    public var outFeatures: Int {
        switch weights {
        case let .float(m): return m.n
        case let .int8(m): return m.n
        case let .bf16(m): return m.n
        }
    }
    public var inFeatures: Int {
        switch weights {
        case let .float(m): return m.k
        case let .int8(m): return m.k
        case let .bf16(m): return m.k
        }
    }

    /// - Parameters: weight `[out, in]` row-major and bias `[out]`, as in a state dict.
    public init(weight: [Float], bias: [Float], out: Int, in inFeatures: Int, isa: ISA, precision: WeightPrecision = .fp32) {
        self.init(weight: .float(weight), bias: bias, out: out, in: inFeatures, isa: isa, precision: precision)
    }

    /// fp32 weights are rounded to `precision`; weights a quantized file stored in reduced
    /// precision are packed as they are and must already be in `precision`.
    public init(weight: LinearWeight, bias: [Float], out: Int, in inFeatures: Int, isa: ISA, precision: WeightPrecision) {
        precondition(bias.count == out)
        switch weight {
        case let .float(w):
            precondition(w.count == out * inFeatures)
            switch precision {
            case .int8: weights = .int8(Int8Matrix.quantizing(w, n: out, k: inFeatures))
            case .bf16: weights = .bf16(BF16Matrix.rounding(w, n: out, k: inFeatures))
            case .fp32, .fp16: weights = .float(PackedMatrix.packing(w, n: out, k: inFeatures, isa: isa, precision: precision))
            }
        case let .fp16(h):
            precondition(precision == .fp16 && h.count == out * inFeatures, "fp16 weights packed as \(precision)")
            weights = .float(h.withUnsafeBufferPointer { PackedMatrix(halves: $0.baseAddress!, n: out, k: inFeatures, isa: isa) })
        case let .int8(q, scales):
            precondition(precision == .int8 && q.count == out * inFeatures, "int8 weights packed as \(precision)")
            weights = .int8(Int8Matrix(quantized: q, scales: scales, n: out, k: inFeatures))
        }
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
        case let .bf16(m): return PackedLinear(weights: .bf16(m.sliced(rows: rows, columns: columns)), bias: b)
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
        case let .bf16(m):
            BF16Gemm.linear(x, rows: rows, ldx: ldx, weight: m, bias: bias.pointer, out: out, ldo: ldo,
                            activation: activation, workspace: ctx.bf16Workspace, ctx: ctx)
        }
    }

    public var byteCount: Int {
        switch weights {
        case let .float(m): return m.byteCount + bias.byteCount
        case let .int8(m): return m.byteCount + bias.byteCount
        case let .bf16(m): return m.byteCount + bias.byteCount
        }
    }
}
