import DyDiTKernels
@_exported import ReferenceSupport

/// SplitMix64 + Box–Muller: reproducible random test data.
struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    mutating func normals(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in normal() * scale } }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Every kernel build this CPU can run: the tests check each against the scalar reference.
let supportedISAs = CPUFeatures.current.supported

func context(_ isa: ISA, threads: Int = 1) -> ComputeContext {
    try! ComputeContext(threads: threads, isa: isa)
}
