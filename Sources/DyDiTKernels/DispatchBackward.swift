import DyDiTKernelsAVX2
import DyDiTKernelsAVX512
import DyDiTKernelsPortable

/// The training kernels' ISA switch (see `Dispatch`).
extension Dispatch {
    static func layerNormModulateBackward(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int, _ dy: UnsafePointer<Float>, ldy: Int, rows: Int, d: Int, eps: Float, scale: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool, dShift: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.layerNormModulateBackward(x, ldx: ldx, dy, ldy: ldy, rows: rows, d: d, eps: eps, scale: scale, dx, lddx: lddx, accumulate: accumulate, dShift: dShift, dScale: dScale)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.layerNormModulateBackward(x, ldx: ldx, dy, ldy: ldy, rows: rows, d: d, eps: eps, scale: scale, dx, lddx: lddx, accumulate: accumulate, dShift: dShift, dScale: dScale)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.layerNormModulateBackward(x, ldx: ldx, dy, ldy: ldy, rows: rows, d: d, eps: eps, scale: scale, dx, lddx: lddx, accumulate: accumulate, dShift: dShift, dScale: dScale)
        }
    }

    static func maskedActivation(_ isa: ISA, _ src: UnsafePointer<Float>, ldsrc: Int, _ dst: UnsafeMutablePointer<Float>, lddst: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?, activation: Activation) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.maskedActivation(src, ldsrc: ldsrc, dst, lddst: lddst, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, activation: activation)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.maskedActivation(src, ldsrc: ldsrc, dst, lddst: lddst, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, activation: activation)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.maskedActivation(src, ldsrc: ldsrc, dst, lddst: lddst, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, activation: activation)
        }
    }

    static func maskedGeluBackward(_ isa: ISA, _ pre: UnsafePointer<Float>, ldpre: Int, _ da: UnsafePointer<Float>, ldda: Int, _ dpre: UnsafeMutablePointer<Float>, lddpre: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?, dMask: UnsafeMutablePointer<Float>?) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.maskedGeluBackward(pre, ldpre: ldpre, da, ldda: ldda, dpre, lddpre: lddpre, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.maskedGeluBackward(pre, ldpre: ldpre, da, ldda: ldda, dpre, lddpre: lddpre, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.maskedGeluBackward(pre, ldpre: ldpre, da, ldda: ldda, dpre, lddpre: lddpre, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        }
    }

    static func maskedColumnsBackward(_ isa: ISA, _ dy: UnsafePointer<Float>, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int, _ dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>, dMask: UnsafeMutablePointer<Float>) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.maskedColumnsBackward(dy, ldy: ldy, x, ldx: ldx, dx, lddx: lddx, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.maskedColumnsBackward(dy, ldy: ldy, x, ldx: ldx, dx, lddx: lddx, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.maskedColumnsBackward(dy, ldy: ldy, x, ldx: ldx, dx, lddx: lddx, rows: rows, groupWidth: groupWidth, groups: groups, mask: mask, dMask: dMask)
        }
    }

    static func gatedResidualBackward(_ isa: ISA, _ dh: UnsafePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int, gate: UnsafePointer<Float>, rowMask: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>, lddx: Int, dGate: UnsafeMutablePointer<Float>, dMask: UnsafeMutablePointer<Float>?) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.gatedResidualBackward(dh, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, rowMask: rowMask, dx, lddx: lddx, dGate: dGate, dMask: dMask)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.gatedResidualBackward(dh, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, rowMask: rowMask, dx, lddx: lddx, dGate: dGate, dMask: dMask)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.gatedResidualBackward(dh, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, rowMask: rowMask, dx, lddx: lddx, dGate: dGate, dMask: dMask)
        }
    }

    static func softmaxBackwardRows(_ isa: ISA, _ p: UnsafePointer<Float>, ldp: Int, _ dp: UnsafeMutablePointer<Float>, lddp: Int, rows: Int, cols: Int, scale: Float) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.softmaxBackwardRows(p, ldp: ldp, dp, lddp: lddp, rows: rows, cols: cols, scale: scale)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.softmaxBackwardRows(p, ldp: ldp, dp, lddp: lddp, rows: rows, cols: cols, scale: scale)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.softmaxBackwardRows(p, ldp: ldp, dp, lddp: lddp, rows: rows, cols: cols, scale: scale)
        }
    }

    static func addColumnSums(_ isa: ISA, _ x: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>) {
        switch isa {
        case .portable: DyDiTKernelsPortable.ISAKernels.addColumnSums(x, ld: ld, rows: rows, cols: cols, into: sums)
        case .avx2: DyDiTKernelsAVX2.ISAKernels.addColumnSums(x, ld: ld, rows: rows, cols: cols, into: sums)
        case .avx512: DyDiTKernelsAVX512.ISAKernels.addColumnSums(x, ld: ld, rows: rows, cols: cols, into: sums)
        }
    }
}
