@_exported import DyDiTKernelABI
import DyDiTKernelsAVX2
import DyDiTKernelsAVX512
import DyDiTKernelsPortable

/// The one place that maps an `ISA` to its build of the kernels: a table of `KernelSet`
/// types. Everything above calls through here; adding a build is one conforming type (the
/// shared templates give it the whole surface) and one entry in `kernels(_:)`.
public enum Dispatch {
    /// The table: the kernel set of each ISA build.
    @inline(__always)
    public static func kernels(_ isa: ISA) -> any KernelSet.Type {
        switch isa {
        case .portable: return DyDiTKernelsPortable.ISAKernels.self
        case .avx2: return DyDiTKernelsAVX2.ISAKernels.self
        case .avx512: return DyDiTKernelsAVX512.ISAKernels.self
        }
    }

    public static func name(_ isa: ISA) -> String { kernels(isa).name }

    /// Rows × columns of the GEMM register tile.
    public static func tile(_ isa: ISA) -> (mr: Int, nr: Int) { (kernels(isa).mr, kernels(isa).nr) }

    static func gemmScratchBytes(_ isa: ISA) -> Int { (kernels(isa).gemmScratchBytes + 63) & ~63 }

    static func packedWeightCount(_ isa: ISA, n: Int, k: Int) -> Int { kernels(isa).packedWeightCount(n: n, k: k) }

    static func packWeights(_ isa: ISA, _ src: UnsafePointer<Float>, n: Int, k: Int, ld: Int,
                            into dst: UnsafeMutablePointer<Float>) {
        kernels(isa).packWeights(src, n: n, k: k, ld: ld, into: dst)
    }

    static func packRightOperand(_ isa: ISA, _ src: UnsafePointer<Float>, layout: RightOperandLayout,
                                 n: Int, k: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        kernels(isa).packRightOperand(src, layout: layout, n: n, k: k, ld: ld, into: dst)
    }

    static func gemm(_ isa: ISA, _ p: GemmOperands, rows: Range<Int>, cols: Range<Int>,
                     scratch: UnsafeMutableRawPointer) {
        kernels(isa).gemm(p, rows: rows, cols: cols, scratch: scratch)
    }

    static func epilogue(_ isa: ISA, _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                         bias: UnsafePointer<Float>?, activation: Activation) {
        kernels(isa).epilogue(c, ldc: ldc, rows: rows, cols: cols, bias: bias, activation: activation)
    }

    static func layerNormModulate(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int,
                                  _ y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, d: Int, eps: Float,
                                  shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                  modStride: Int, rowsPerGroup: Int, rowOffset: Int) {
        kernels(isa).layerNormModulate(x, ldx: ldx, y, ldy: ldy, rows: rows, d: d, eps: eps, shift: shift, scale: scale,
                                       modStride: modStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset)
    }

    static func layerNormModulateGathered(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int, rowIndex: UnsafePointer<Int32>,
                                          rowGroup: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, ldy: Int,
                                          count: Int, d: Int, eps: Float, shift: UnsafePointer<Float>?,
                                          scale: UnsafePointer<Float>?, modStride: Int) {
        kernels(isa).layerNormModulateGathered(x, ldx: ldx, rowIndex: rowIndex, rowGroup: rowGroup, y, ldy: ldy, count: count,
                                               d: d, eps: eps, shift: shift, scale: scale, modStride: modStride)
    }

    static func scatterGatedResidual(_ isa: ISA, _ h: UnsafeMutablePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>,
                                     ldx: Int, count: Int, d: Int, gate: UnsafePointer<Float>, gateStride: Int,
                                     rowIndex: UnsafePointer<Int32>, rowGroup: UnsafePointer<Int32>) {
        kernels(isa).scatterGatedResidual(h, ldh: ldh, x, ldx: ldx, count: count, d: d, gate: gate, gateStride: gateStride,
                                          rowIndex: rowIndex, rowGroup: rowGroup)
    }

    static func routerLogits(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int, w1t: UnsafePointer<Float>,
                             hiddenPadded: Int, b1: UnsafePointer<Float>, w2: UnsafePointer<Float>, b2: Float,
                             into out: UnsafeMutablePointer<Float>) {
        kernels(isa).routerLogits(x, ldx: ldx, rows: rows, d: d, w1t: w1t, hiddenPadded: hiddenPadded, b1: b1, w2: w2, b2: b2,
                                  into: out)
    }

    static func softmaxRows(_ isa: ISA, _ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float) {
        kernels(isa).softmaxRows(s, ld: ld, rows: rows, cols: cols, scale: scale)
    }

    static func onlineSoftmaxRows(_ isa: ISA, _ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float,
                                  rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                                  alpha: UnsafeMutablePointer<Float>) {
        kernels(isa).onlineSoftmaxRows(s, ld: ld, rows: rows, cols: cols, scale: scale, rowMax: rowMax, rowSum: rowSum,
                                       alpha: alpha)
    }

    static func gatedResidual(_ isa: ISA, _ h: UnsafeMutablePointer<Float>, ldh: Int,
                              _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int,
                              gate: UnsafePointer<Float>, gateStride: Int, rowsPerGroup: Int, rowOffset: Int,
                              rowMask: UnsafePointer<Float>?) {
        kernels(isa).gatedResidual(h, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, gateStride: gateStride,
                                   rowsPerGroup: rowsPerGroup, rowOffset: rowOffset, rowMask: rowMask)
    }
}

extension Dispatch {
    /// Runs the register-only FMA loop; returns flops performed (and a value to keep it alive).
    public static func peakLoop(_ isa: ISA, iterations: Int) -> (flops: Double, sink: Float) {
        let k = kernels(isa)
        let sink = k.peakLoop(iterations: iterations, seed: 1)
        return (Double(iterations) * 24 * 2 * Double(k.lanes), sink)
    }

    /// The peak loop's independent chains and the build's vector registers: the loop measures
    /// FMAs only while the chains and its two operands fit in the registers.
    public static func peakLoopRegisters(_ isa: ISA) -> (chains: Int, registers: Int) {
        (kernels(isa).peakChains, kernels(isa).vectorRegisters)
    }
}

extension Dispatch {
    /// `isa`'s build of the activation-row quantizer of the int8 product (public so the tests
    /// can hold every build against `Reference.quantizeRow`).
    public static func quantizeRow(_ isa: ISA, _ x: UnsafePointer<Float>, k: Int, kPadded: Int, into q: UnsafeMutablePointer<Int8>) -> Float {
        kernels(isa).quantizeRow(x, k: k, kPadded: kPadded, into: q)
    }

    static func dequantize(_ isa: ISA, _ acc: UnsafePointer<Int32>, ldAcc: Int, rows: Int, cols: Int, shift: Int32,
                           sums: UnsafePointer<Int32>, scaleA: UnsafePointer<Float>, scaleW: UnsafePointer<Float>,
                           into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool,
                           bias: UnsafePointer<Float>?, activation: Activation) {
        kernels(isa).dequantize(acc, ldAcc: ldAcc, rows: rows, cols: cols, shift: shift, sums: sums, scaleA: scaleA,
                                scaleW: scaleW, into: out, ldo: ldo, accumulate: accumulate, bias: bias, activation: activation)
    }
}
