/// What every ISA build of the kernels provides: the dispatcher's table is one `KernelSet`
/// type per ISA (`Dispatch.kernels(_:)`), so a new build is a new conforming type and one
/// table entry, and a kernel added to the surface is checked by the compiler in every build.
///
/// Each ISA target declares `ISAKernels` from the same templates (symlinked from
/// DyDiTKernelsPortable) and conforms it in the shared `KernelSetConformance.swift`. Static
/// requirements called through the metatype cost one indirect call per kernel call, not per
/// element: the loops stay inside each build, compiled with its own target features. Every
/// build is also the bf16 fallback tile of its ISA (`BF16TileKernels`, for CPUs with no bf16
/// instructions).
public protocol KernelSet: BF16TileKernels {
    static var name: String { get }
    /// Rows × columns of the GEMM register tile.
    static var mr: Int { get }
    static var nr: Int { get }
    /// Floats per vector register.
    static var lanes: Int { get }
    /// Vector registers of the build (16 for SSE2 and AVX2, 32 for AVX-512).
    static var vectorRegisters: Int { get }
    /// Independent accumulators of `peakLoop`: they and its two operands stay in registers.
    static var peakChains: Int { get }
    static var gemmScratchBytes: Int { get }

    // GEMM
    static func packedWeightCount(n: Int, k: Int) -> Int
    static func packWeights(_ src: UnsafePointer<Float>, n: Int, k: Int, ld: Int, into dst: UnsafeMutablePointer<Float>)
    static func packRightOperand(_ src: UnsafePointer<Float>, layout: RightOperandLayout, n: Int, k: Int, ld: Int,
                                 into dst: UnsafeMutablePointer<Float>)
    static func gemm(_ p: GemmOperands, rows: Range<Int>, cols: Range<Int>, scratch: UnsafeMutableRawPointer)
    static func epilogue(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, bias: UnsafePointer<Float>?,
                         activation: Activation)

    // Row kernels of the forward pass
    static func layerNormModulate(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int,
                                  rows: Int, d: Int, eps: Float, shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                  modStride: Int, rowsPerGroup: Int, rowOffset: Int)
    static func layerNormModulateGathered(_ x: UnsafePointer<Float>, ldx: Int, rowIndex: UnsafePointer<Int32>,
                                          rowGroup: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, ldy: Int,
                                          count: Int, d: Int, eps: Float, shift: UnsafePointer<Float>?,
                                          scale: UnsafePointer<Float>?, modStride: Int)
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float)
    static func onlineSoftmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float,
                                  rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                                  alpha: UnsafeMutablePointer<Float>)
    static func gatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int, rows: Int,
                              d: Int, gate: UnsafePointer<Float>, gateStride: Int, rowsPerGroup: Int, rowOffset: Int,
                              rowMask: UnsafePointer<Float>?)
    static func scatterGatedResidual(_ h: UnsafeMutablePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                     count: Int, d: Int, gate: UnsafePointer<Float>, gateStride: Int,
                                     rowIndex: UnsafePointer<Int32>, rowGroup: UnsafePointer<Int32>)
    static func routerLogits(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int, w1t: UnsafePointer<Float>,
                             hiddenPadded: Int, b1: UnsafePointer<Float>, w2: UnsafePointer<Float>, b2: Float,
                             into out: UnsafeMutablePointer<Float>)

    // Row kernels of the backward pass
    static func layerNormModulateBackward(_ x: UnsafePointer<Float>, ldx: Int, _ dy: UnsafePointer<Float>, ldy: Int,
                                          rows: Int, d: Int, eps: Float, scale: UnsafePointer<Float>?,
                                          _ dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool,
                                          dShift: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?)
    static func maskedActivation(_ src: UnsafePointer<Float>, ldsrc: Int, _ dst: UnsafeMutablePointer<Float>, lddst: Int,
                                 rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?, activation: Activation)
    static func maskedGeluBackward(_ pre: UnsafePointer<Float>, ldpre: Int, _ da: UnsafePointer<Float>, ldda: Int,
                                   _ dpre: UnsafeMutablePointer<Float>, lddpre: Int, rows: Int, groupWidth: Int,
                                   groups: Int, mask: UnsafePointer<Float>?, dMask: UnsafeMutablePointer<Float>?)
    static func maskedColumnsBackward(_ dy: UnsafePointer<Float>, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                      _ dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Int, groupWidth: Int,
                                      groups: Int, mask: UnsafePointer<Float>, dMask: UnsafeMutablePointer<Float>)
    static func gatedResidualBackward(_ dh: UnsafePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                      rows: Int, d: Int, gate: UnsafePointer<Float>, rowMask: UnsafePointer<Float>?,
                                      _ dx: UnsafeMutablePointer<Float>, lddx: Int, dGate: UnsafeMutablePointer<Float>,
                                      dMask: UnsafeMutablePointer<Float>?)
    static func softmaxBackwardRows(_ p: UnsafePointer<Float>, ldp: Int, _ dp: UnsafeMutablePointer<Float>, lddp: Int,
                                    rows: Int, cols: Int, scale: Float)
    static func addColumnSums(_ x: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>)

    // int8 rows, double-precision products, the peak loop
    static func quantizeRow(_ x: UnsafePointer<Float>, k: Int, kPadded: Int, into q: UnsafeMutablePointer<Int8>) -> Float
    static func dequantize(_ acc: UnsafePointer<Int32>, ldAcc: Int, rows: Int, cols: Int, shift: Int32,
                           sums: UnsafePointer<Int32>, scaleA: UnsafePointer<Float>, scaleW: UnsafePointer<Float>,
                           into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool,
                           bias: UnsafePointer<Float>?, activation: Activation)
    static func dotProductsF64(_ x: UnsafePointer<Double>, rows: Range<Int>, _ y: UnsafePointer<Double>, n: Int, d: Int,
                               into out: UnsafeMutablePointer<Double>, ldo: Int)
    static func peakLoop(iterations: Int, seed: Float) -> Float
}

/// The int32 tile of the int8 product: 6 rows of A (`[6, kGroups·4]`, row stride `lda`) times up
/// to 4 weight panels of 16 columns (`panelStride` apart), into `out` `[6, 64]` (row stride
/// `ldo`). One conforming type per int8 path (`Int8Path`), beside the float table.
public protocol Int8TileKernels {
    static func tile(kGroups: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<Int8>, panelStride: Int, panels: Int,
                     out: UnsafeMutablePointer<Int32>, ldo: Int)
}

/// The fp32 tile of the bf16 product: 6 rows of A (`[6, kPairs]` pairs of bf16 in 32-bit words,
/// row stride `lda` words) times up to 4 weight panels of 16 columns (`[kPairs][16]` words,
/// `panelStride` words apart), into `out` `[6, 16·panels]` (row stride `ldo`), overwritten.
/// Each word holds two consecutive k, the lower one in the low half. One conforming type per
/// bf16 path (`BF16Path`).
public protocol BF16TileKernels {
    static func tile(kPairs: Int, a: UnsafePointer<UInt32>, lda: Int, b: UnsafePointer<UInt32>, panelStride: Int, panels: Int,
                     out: UnsafeMutablePointer<Float>, ldo: Int)
}
