import DyDiTKernelsBF16

/// How a row of floats becomes bf16 pairs (the A operands of the bf16 products: activations,
/// attention's Q, K and probabilities): every way gives `BFloat16.pair`'s words bit for bit.
public enum BF16PairRounding: String, Sendable, CaseIterable {
    /// One word at a time, the definition.
    case scalar
    /// Sixteen words per step in integer lanes (any AVX-512 CPU).
    case integer
    /// AVX512_BF16's `vcvtne2ps2bf16`, a step with a denormal in integer lanes (the
    /// instruction reads denormals as zero): about a fifth of `integer`'s instructions.
    case convert

    /// The fastest way the ISA build and the CPU run.
    public static func best(for isa: ISA, cpu: CPUFeatures = .current) -> BF16PairRounding {
        guard isa == .avx512, cpu.supports(.avx512) else { return .scalar }
        return cpu.avx512bf16 ? .convert : .integer
    }

    public func isSupported(by cpu: CPUFeatures = .current) -> Bool {
        switch self {
        case .scalar: return true
        case .integer: return cpu.supports(.avx512)
        case .convert: return cpu.supports(.avx512) && cpu.avx512bf16
        }
    }

    /// `dst[p] = BFloat16.pair(src[2p], src[2p + 1])` for `p < pairs`.
    @inline(__always)
    public func round(_ src: UnsafePointer<Float>, pairs: Int, into dst: UnsafeMutablePointer<UInt32>) {
        switch self {
        case .scalar: for p in 0..<pairs { dst[p] = BFloat16.pair(src[2 * p], src[2 * p + 1]) }
        case .integer: BF16Kernels.roundPairs(src, pairs: pairs, into: dst)
        case .convert: BF16Kernels.convertPairs(src, pairs: pairs, into: dst)
        }
    }
}
