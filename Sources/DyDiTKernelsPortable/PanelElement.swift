// The element types of packed B panels: float, or half widened on load (fp16 weights keep
// half the memory and bandwidth; the arithmetic stays fp32). Shared by every ISA build;
// `widenHalves` comes from each build's ISAConfig.swift (one vcvtph2ps with F16C).

protocol PanelElement {
    /// `V.scalarCount` consecutive elements at `p`, as floats.
    static func vector(_ p: UnsafePointer<Self>) -> V
}

extension Float: PanelElement {
    @inline(__always) static func vector(_ p: UnsafePointer<Float>) -> V { load(p) }
}

extension Float16: PanelElement {
    @inline(__always) static func vector(_ p: UnsafePointer<Float16>) -> V { widenHalves(UnsafeRawPointer(p)) }
}
