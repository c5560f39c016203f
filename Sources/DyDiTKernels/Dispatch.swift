@_exported import DyDiTKernelABI
import DyDiTKernelsAVX2
import DyDiTKernelsAVX512
import DyDiTKernelsPortable

/// The one place that maps an `ISA` to its build of each kernel. Everything above calls
/// through here, so adding a build means adding a case in each function below.
public enum Dispatch {
    public static func name(_ isa: ISA) -> String {
        switch isa {
        case .portable: return DyDiTKernelsPortable.ISAKernels.name
        case .avx2: return DyDiTKernelsAVX2.ISAKernels.name
        case .avx512: return DyDiTKernelsAVX512.ISAKernels.name
        }
    }

    /// Rows × columns of the GEMM register tile.
    public static func tile(_ isa: ISA) -> (mr: Int, nr: Int) {
        switch isa {
        case .portable: return (DyDiTKernelsPortable.ISAKernels.mr, DyDiTKernelsPortable.ISAKernels.nr)
        case .avx2: return (DyDiTKernelsAVX2.ISAKernels.mr, DyDiTKernelsAVX2.ISAKernels.nr)
        case .avx512: return (DyDiTKernelsAVX512.ISAKernels.mr, DyDiTKernelsAVX512.ISAKernels.nr)
        }
    }

    static func gemmScratchBytes(_ isa: ISA) -> Int {
        let bytes: Int
        switch isa {
        case .portable: bytes = DyDiTKernelsPortable.ISAKernels.gemmScratchBytes
        case .avx2: bytes = DyDiTKernelsAVX2.ISAKernels.gemmScratchBytes
        case .avx512: bytes = DyDiTKernelsAVX512.ISAKernels.gemmScratchBytes
        }
        return (bytes + 63) & ~63
    }

    static func packedWeightCount(_ isa: ISA, n: Int, k: Int) -> Int {
        switch isa {
        case .portable: return DyDiTKernelsPortable.ISAKernels.packedWeightCount(n: n, k: k)
        case .avx2: return DyDiTKernelsAVX2.ISAKernels.packedWeightCount(n: n, k: k)
        case .avx512: return DyDiTKernelsAVX512.ISAKernels.packedWeightCount(n: n, k: k)
        }
    }

    static func packWeights(_ isa: ISA, _ src: UnsafePointer<Float>, n: Int, k: Int, ld: Int,
                            into dst: UnsafeMutablePointer<Float>) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.packWeights(src, n: n, k: k, ld: ld, into: dst)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.packWeights(src, n: n, k: k, ld: ld, into: dst)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.packWeights(src, n: n, k: k, ld: ld, into: dst)
        }
    }

    static func packRightOperand(_ isa: ISA, _ src: UnsafePointer<Float>, layout: RightOperandLayout,
                                 n: Int, k: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.packRightOperand(src, layout: layout, n: n, k: k, ld: ld, into: dst)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.packRightOperand(src, layout: layout, n: n, k: k, ld: ld, into: dst)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.packRightOperand(src, layout: layout, n: n, k: k, ld: ld, into: dst)
        }
    }

    static func gemm(_ isa: ISA, _ p: GemmOperands, rows: Range<Int>, cols: Range<Int>,
                     scratch: UnsafeMutableRawPointer) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.gemm(p, rows: rows, cols: cols, scratch: scratch)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.gemm(p, rows: rows, cols: cols, scratch: scratch)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.gemm(p, rows: rows, cols: cols, scratch: scratch)
        }
    }

    static func epilogue(_ isa: ISA, _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                         bias: UnsafePointer<Float>?, activation: Activation) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.epilogue(c, ldc: ldc, rows: rows, cols: cols, bias: bias, activation: activation)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.epilogue(c, ldc: ldc, rows: rows, cols: cols, bias: bias, activation: activation)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.epilogue(c, ldc: ldc, rows: rows, cols: cols, bias: bias, activation: activation)
        }
    }

    static func layerNormModulate(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int,
                                  _ y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, d: Int, eps: Float,
                                  shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                  modStride: Int, rowsPerGroup: Int, rowOffset: Int) {
        switch isa {
        case .portable:
            DyDiTKernelsPortable.ISAKernels.layerNormModulate(x, ldx: ldx, y, ldy: ldy, rows: rows, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset)
        case .avx2:
            DyDiTKernelsAVX2.ISAKernels.layerNormModulate(x, ldx: ldx, y, ldy: ldy, rows: rows, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset)
        case .avx512:
            DyDiTKernelsAVX512.ISAKernels.layerNormModulate(x, ldx: ldx, y, ldy: ldy, rows: rows, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset)
        }
    }

    static func layerNormModulateGathered(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int, rowIndex: UnsafePointer<Int32>,
                                          rowGroup: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, ldy: Int,
                                          count: Int, d: Int, eps: Float, shift: UnsafePointer<Float>?,
                                          scale: UnsafePointer<Float>?, modStride: Int) {
        switch isa {
        case .portable:
            DyDiTKernelsPortable.ISAKernels.layerNormModulateGathered(x, ldx: ldx, rowIndex: rowIndex, rowGroup: rowGroup, y, ldy: ldy, count: count, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride)
        case .avx2:
            DyDiTKernelsAVX2.ISAKernels.layerNormModulateGathered(x, ldx: ldx, rowIndex: rowIndex, rowGroup: rowGroup, y, ldy: ldy, count: count, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride)
        case .avx512:
            DyDiTKernelsAVX512.ISAKernels.layerNormModulateGathered(x, ldx: ldx, rowIndex: rowIndex, rowGroup: rowGroup, y, ldy: ldy, count: count, d: d, eps: eps, shift: shift, scale: scale, modStride: modStride)
        }
    }

    static func scatterGatedResidual(_ isa: ISA, _ h: UnsafeMutablePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>,
                                     ldx: Int, count: Int, d: Int, gate: UnsafePointer<Float>, gateStride: Int,
                                     rowIndex: UnsafePointer<Int32>, rowGroup: UnsafePointer<Int32>) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.scatterGatedResidual(h, ldh: ldh, x, ldx: ldx, count: count, d: d, gate: gate, gateStride: gateStride, rowIndex: rowIndex, rowGroup: rowGroup)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.scatterGatedResidual(h, ldh: ldh, x, ldx: ldx, count: count, d: d, gate: gate, gateStride: gateStride, rowIndex: rowIndex, rowGroup: rowGroup)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.scatterGatedResidual(h, ldh: ldh, x, ldx: ldx, count: count, d: d, gate: gate, gateStride: gateStride, rowIndex: rowIndex, rowGroup: rowGroup)
        }
    }

    static func softmaxRows(_ isa: ISA, _ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.softmaxRows(s, ld: ld, rows: rows, cols: cols, scale: scale)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.softmaxRows(s, ld: ld, rows: rows, cols: cols, scale: scale)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.softmaxRows(s, ld: ld, rows: rows, cols: cols, scale: scale)
        }
    }

    static func gatedResidual(_ isa: ISA, _ h: UnsafeMutablePointer<Float>, ldh: Int,
                              _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int,
                              gate: UnsafePointer<Float>, gateStride: Int, rowsPerGroup: Int, rowOffset: Int,
                              rowMask: UnsafePointer<Float>?) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.gatedResidual(h, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, gateStride: gateStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset, rowMask: rowMask)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.gatedResidual(h, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, gateStride: gateStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset, rowMask: rowMask)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.gatedResidual(h, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, gateStride: gateStride, rowsPerGroup: rowsPerGroup, rowOffset: rowOffset, rowMask: rowMask)
        }
    }
}

extension Dispatch {
    /// Runs the register-only FMA loop; returns flops performed (and a value to keep it alive).
    public static func peakLoop(_ isa: ISA, iterations: Int) -> (flops: Double, sink: Float) {
        let lanes: Int, sink: Float
        switch isa {
        case .portable:
            lanes = DyDiTKernelsPortable.ISAKernels.lanes
            sink = DyDiTKernelsPortable.ISAKernels.peakLoop(iterations: iterations, seed: 1)
        case .avx2:
            lanes = DyDiTKernelsAVX2.ISAKernels.lanes
            sink = DyDiTKernelsAVX2.ISAKernels.peakLoop(iterations: iterations, seed: 1)
        case .avx512:
            lanes = DyDiTKernelsAVX512.ISAKernels.lanes
            sink = DyDiTKernelsAVX512.ISAKernels.peakLoop(iterations: iterations, seed: 1)
        }
        return (Double(iterations) * 24 * 2 * Double(lanes), sink)
    }
}

extension Dispatch {
    /// `isa`'s build of the activation-row quantizer of the int8 product (public so the tests
    /// can hold every build against `Reference.quantizeRow`).
    public static func quantizeRow(_ isa: ISA, _ x: UnsafePointer<Float>, k: Int, kPadded: Int, into q: UnsafeMutablePointer<Int8>) -> Float {
        switch isa {
        case .portable: return DyDiTKernelsPortable.ISAKernels.quantizeRow(x, k: k, kPadded: kPadded, into: q)
        case .avx2: return DyDiTKernelsAVX2.ISAKernels.quantizeRow(x, k: k, kPadded: kPadded, into: q)
        case .avx512: return DyDiTKernelsAVX512.ISAKernels.quantizeRow(x, k: k, kPadded: kPadded, into: q)
        }
    }

    static func dequantize(_ isa: ISA, _ acc: UnsafePointer<Int32>, ldAcc: Int, rows: Int, cols: Int, shift: Int32,
                           sums: UnsafePointer<Int32>, scaleA: UnsafePointer<Float>, scaleW: UnsafePointer<Float>,
                           into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool,
                           bias: UnsafePointer<Float>?, activation: Activation) {
        switch isa {
        case .portable:
            DyDiTKernelsPortable.ISAKernels.dequantize(acc, ldAcc: ldAcc, rows: rows, cols: cols, shift: shift, sums: sums, scaleA: scaleA,
                                                       scaleW: scaleW, into: out, ldo: ldo, accumulate: accumulate, bias: bias, activation: activation)
        case .avx2:
            DyDiTKernelsAVX2.ISAKernels.dequantize(acc, ldAcc: ldAcc, rows: rows, cols: cols, shift: shift, sums: sums, scaleA: scaleA,
                                                   scaleW: scaleW, into: out, ldo: ldo, accumulate: accumulate, bias: bias, activation: activation)
        case .avx512:
            DyDiTKernelsAVX512.ISAKernels.dequantize(acc, ldAcc: ldAcc, rows: rows, cols: cols, shift: shift, sums: sums, scaleA: scaleA,
                                                     scaleW: scaleW, into: out, ldo: ldo, accumulate: accumulate, bias: bias, activation: activation)
        }
    }
}
