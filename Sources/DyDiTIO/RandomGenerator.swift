#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The project's documented random number generator, so a seed means the same numbers on
/// every machine and in every version:
///
/// - state: xoshiro256** (Blackman & Vigna), its four words filled from the seed by SplitMix64;
/// - `uniform()`: the top 53 bits of the next output, times 2⁻⁵³, in [0, 1);
/// - `normal()`: Box–Muller on two uniforms `u1, u2`, `√(−2 ln(1 − u1)) · cos(2π u2)`, then the
///   paired `sin` value on the next call (computed in Double, rounded to Float once);
/// - `logistic()`: `ln(u) − ln(1 − u)` with `u` uniform in (0, 1).
public struct RandomGenerator: Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)
    private var spare: Double?

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
        spare = nil
    }

    /// Restores a generator saved with `savedState` (checkpoints resume bit-identically).
    public init(savedState words: [UInt64]) {
        precondition(words.count == 6, "a saved generator is 6 words")
        state = (words[0], words[1], words[2], words[3])
        spare = words[4] != 0 ? Double(bitPattern: words[5]) : nil
    }

    public var savedState: [UInt64] {
        [state.0, state.1, state.2, state.3, spare == nil ? 0 : 1, spare?.bitPattern ?? 0]
    }

    public static func == (a: RandomGenerator, b: RandomGenerator) -> Bool { a.savedState == b.savedState }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    public mutating func normal() -> Float {
        if let s = spare {
            spare = nil
            return Float(s)
        }
        let u1 = uniform(), u2 = uniform()
        let r = (-2 * log(1 - u1)).squareRoot()
        spare = r * sin(2 * Double.pi * u2)
        return Float(r * cos(2 * Double.pi * u2))
    }

    public mutating func normals(_ count: Int) -> [Float] { (0..<count).map { _ in normal() } }

    public mutating func logistic() -> Float {
        var u = uniform()
        while u == 0 { u = uniform() }
        return Float(log(u) - log(1 - u))
    }

    /// Uniform integer in `0..<bound` (Lemire's multiply-shift with rejection, unbiased).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        while true {
            let m = next().multipliedFullWidth(by: b)
            if m.low >= (0 &- b) % b { return Int(m.high) }
        }
    }
}
