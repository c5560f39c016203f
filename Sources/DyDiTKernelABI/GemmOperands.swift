/// Types shared by the dispatcher and every ISA build of the kernels.
///
/// Only plain data lives here: no arithmetic, so no `@inlinable` float code can be
/// specialised twice under different target features and merged by the linker.

/// Element-wise function applied to a GEMM result after the bias, while the tile is hot.
public enum Activation: Int32, Sendable {
    case none = 0
    /// GELU, tanh approximation (`nn.GELU(approximate="tanh")`).
    case gelu = 1
    /// SiLU (`x·sigmoid(x)`).
    case silu = 2
    /// ReLU (`max(x, 0)`), the hidden layer of DyDiT's token router.
    case relu = 3
}

/// How the right-hand operand of a GEMM is stored.
public enum RightOperandLayout: Int32, Sendable {
    /// Pre-packed panels of `nr` columns, built by `ISAKernels.packWeights` for the same ISA.
    case packed = 0
    /// Row-major `[N, K]`, row stride `ldb`: `op(B) = Bᵀ` (PyTorch's `[out, in]` weights, attention keys).
    case rowsNK = 1
    /// Row-major `[K, N]`, row stride `ldb`: `op(B) = B` (attention values, gradients).
    case rowsKN = 2
    /// The `packed` layout with `Float16` elements (`GemmOperands.bHalves`): fp16 weights,
    /// widened to float in the micro-kernel.
    case packedHalf = 3

    /// Panels ready for the micro-kernel, fp32 or fp16.
    public var isPacked: Bool { self == .packed || self == .packedHalf }
}

/// One GEMM: `C[M, N] = op(A)[M, K] · op(B)[K, N]` (`+ C` when `accumulate`), then `+ bias[N]`,
/// then `activation`. Bias and activation are applied once, after the whole K sum.
public struct GemmOperands: @unchecked Sendable {
    public var m: Int
    public var n: Int
    public var k: Int
    public var a: UnsafePointer<Float>
    public var lda: Int
    /// `false`: A is row-major `[M, K]`; `true`: A is row-major `[K, M]` (so `op(A) = Aᵀ`).
    public var aTransposed: Bool
    /// B's storage: floats, or halves for `packedHalf`. Read it through `bFloats` / `bHalves`,
    /// which check the layout, so fp16 panels never pass as floats.
    public var b: UnsafeRawPointer
    public var ldb: Int
    public var bLayout: RightOperandLayout
    public var c: UnsafeMutablePointer<Float>
    public var ldc: Int
    public var accumulate: Bool
    public var bias: UnsafePointer<Float>?
    public var activation: Activation

    public init(m: Int, n: Int, k: Int,
                a: UnsafePointer<Float>, lda: Int, aTransposed: Bool = false,
                b: UnsafeRawPointer, ldb: Int, bLayout: RightOperandLayout,
                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false,
                bias: UnsafePointer<Float>? = nil, activation: Activation = .none) {
        self.m = m; self.n = n; self.k = k
        self.a = a; self.lda = lda; self.aTransposed = aTransposed
        self.b = b; self.ldb = ldb; self.bLayout = bLayout
        self.c = c; self.ldc = ldc; self.accumulate = accumulate
        self.bias = bias; self.activation = activation
    }

    /// B as floats (`packed`, `rowsNK`, `rowsKN`).
    public var bFloats: UnsafePointer<Float> {
        precondition(bLayout != .packedHalf, "B holds halves (packedHalf): read bHalves")
        return b.assumingMemoryBound(to: Float.self)
    }

    /// B as halves (`packedHalf`).
    public var bHalves: UnsafePointer<Float16> {
        precondition(bLayout == .packedHalf, "B holds floats (\(bLayout)): read bFloats")
        return b.assumingMemoryBound(to: Float16.self)
    }
}
