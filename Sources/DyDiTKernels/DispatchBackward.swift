/// The training kernels, through the same table (see `Dispatch`).
extension Dispatch {
    static func layerNormModulateBackward(_ isa: ISA, _ x: UnsafePointer<Float>, ldx: Int, _ dy: UnsafePointer<Float>, ldy: Int, rows: Int, d: Int, eps: Float, scale: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool, dShift: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?) {
        kernels(isa).layerNormModulateBackward(x, ldx: ldx, dy, ldy: ldy, rows: rows, d: d, eps: eps, scale: scale, dx, lddx: lddx,
                                               accumulate: accumulate, dShift: dShift, dScale: dScale)
    }

    static func maskedActivation(_ isa: ISA, _ src: UnsafePointer<Float>, ldsrc: Int, _ dst: UnsafeMutablePointer<Float>, lddst: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?, activation: Activation) {
        kernels(isa).maskedActivation(src, ldsrc: ldsrc, dst, lddst: lddst, rows: rows, groupWidth: groupWidth, groups: groups,
                                      mask: mask, activation: activation)
    }

    static func maskedGeluBackward(_ isa: ISA, _ pre: UnsafePointer<Float>, ldpre: Int, _ da: UnsafePointer<Float>, ldda: Int, _ dpre: UnsafeMutablePointer<Float>, lddpre: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?, dMask: UnsafeMutablePointer<Float>?) {
        kernels(isa).maskedGeluBackward(pre, ldpre: ldpre, da, ldda: ldda, dpre, lddpre: lddpre, rows: rows, groupWidth: groupWidth,
                                        groups: groups, mask: mask, dMask: dMask)
    }

    static func maskedColumnsBackward(_ isa: ISA, _ dy: UnsafePointer<Float>, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int, _ dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>, dMask: UnsafeMutablePointer<Float>) {
        kernels(isa).maskedColumnsBackward(dy, ldy: ldy, x, ldx: ldx, dx, lddx: lddx, rows: rows, groupWidth: groupWidth,
                                           groups: groups, mask: mask, dMask: dMask)
    }

    static func gatedResidualBackward(_ isa: ISA, _ dh: UnsafePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int, gate: UnsafePointer<Float>, rowMask: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>, lddx: Int, dGate: UnsafeMutablePointer<Float>, dMask: UnsafeMutablePointer<Float>?) {
        kernels(isa).gatedResidualBackward(dh, ldh: ldh, x, ldx: ldx, rows: rows, d: d, gate: gate, rowMask: rowMask, dx, lddx: lddx,
                                           dGate: dGate, dMask: dMask)
    }

    static func softmaxBackwardRows(_ isa: ISA, _ p: UnsafePointer<Float>, ldp: Int, _ dp: UnsafeMutablePointer<Float>, lddp: Int, rows: Int, cols: Int, scale: Float) {
        kernels(isa).softmaxBackwardRows(p, ldp: ldp, dp, lddp: lddp, rows: rows, cols: cols, scale: scale)
    }

    static func addColumnSums(_ isa: ISA, _ x: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>) {
        kernels(isa).addColumnSums(x, ld: ld, rows: rows, cols: cols, into: sums)
    }
}
