// Loads and stores of `V` from raw float pointers, shared by every ISA build.

@inline(__always) func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// The first `count` (< V.scalarCount) floats at `p`, zeros in the other lanes.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> V {
    var v = V()
    for l in 0..<count { v[l] = p[l] }
    return v
}

/// Stores the first `count` lanes of `v` at `p`.
@inline(__always) func storePartial(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for l in 0..<count { p[l] = v[l] }
}

/// Lanes `0..<count` true.
@inline(__always) func laneMask(_ count: Int) -> SIMDMask<VInt.MaskStorage> {
    var lanes = VInt()
    for l in 0..<VInt.scalarCount { lanes[l] = Int32(l) }
    return lanes .< VInt(repeating: Int32(count))
}
