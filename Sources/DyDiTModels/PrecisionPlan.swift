import DyDiTIO
import DyDiTKernels

/// The storage precision of every linear layer: one for the model, and fp32 for the layers
/// whose official names contain one of `fp32Layers` (e.g. `adaLN_modulation`, `final_layer`:
/// small layers whose errors every block or every pixel sees).
public struct PrecisionPlan: Sendable, Equatable, CustomStringConvertible {
    public var base: WeightPrecision
    public var fp32Layers: [String]

    public init(_ base: WeightPrecision, fp32Layers: [String] = []) {
        self.base = base
        self.fp32Layers = fp32Layers
    }

    public static let fp32 = PrecisionPlan(.fp32)

    /// What `fp32Layers` entries may name: a kind of layer, or any official layer prefix — and
    /// `attention`, the products inside attention (QKᵀ and PV, in bf16 under a bf16 plan).
    public static let layerNames = ["adaLN_modulation", "final_layer", "x_embedder", "t_embedder", "attn.qkv", "attn.proj",
                                    "mlp.fc1", "mlp.fc2", attention]

    /// The `fp32Layers` entry for attention's own products (no official layer name contains it).
    public static let attention = "attention"

    /// Whether attention's products run in bf16 on a context of `isa`: under a bf16 plan, and
    /// under an int8 plan where the bf16 product runs in hardware — AMX (1.46× the fp32
    /// attention on the Intel host) or `vdpbf16ps` (1.74× on an AMD Zen 4; BENCHMARKS.md, "bf16
    /// without AMX"); the fallback tile (no bf16 instructions) is slower than fp32 — unless the plan keeps `attention`
    /// in fp32. (Sapphire Rapids' `vdpbf16ps` runs at half its FMA rate, but every such CPU
    /// has AMX, which wins; only `DYDIT_NO_AMX=1` there picks the slower tile.) So an int8
    /// model's attention, and its outputs' last bits, depend on the CPU's bf16 support.
    public func attentionInBF16(isa: ISA, cpu: CPUFeatures = .current) -> Bool {
        guard !fp32Layers.contains(Self.attention) else { return false }
        return base == .bf16 || (base == .int8 && BF16Path.best(for: isa, cpu: cpu) != .portable)
    }

    /// The precision of the layer `name` (`blocks.3.mlp.fc1`); several names (a stacked
    /// layer) are fp32 if any of them is.
    public func precision(_ names: String...) -> WeightPrecision {
        names.contains { name in fp32Layers.contains { name.contains($0) } } ? .fp32 : base
    }

    /// Every linear layer of `config` (official prefixes; the stacked adaLN modulations as
    /// one entry of several names) with the precision its weights are stored in. The
    /// modulations run as one GEMM, so they share one precision: fp32 if any of them is named.
    public func linearLayers(_ c: DiTConfig) -> [(names: [String], precision: WeightPrecision)] {
        typealias L = DiTLayerNames
        var layers = [L.patchEmbed, L.timeIn, L.timeOut].map { [$0] }
        for i in 0..<c.depth { layers += L.block(i).linears.map { [$0] } }
        layers.append(L.stackedModulations(depth: c.depth))
        layers.append([L.finalLinear])
        return layers.map { names in (names, names.contains { precision($0) == .fp32 } ? .fp32 : base) }
    }

    /// Equal up to the order of `fp32Layers`.
    public func sameLayers(as other: PrecisionPlan) -> Bool {
        base == other.base && Set(fp32Layers) == Set(other.fp32Layers)
    }

    /// The plan as a spec's `"precision"` value.
    public var specJSON: JSONValue {
        fp32Layers.isEmpty ? .string(base.rawValue)
            : .object(JSONObject([("type", .string(base.rawValue)), ("fp32_layers", .array(fp32Layers.map { .string($0) }))]))
    }

    public var description: String {
        fp32Layers.isEmpty ? base.rawValue : "\(base.rawValue) (fp32: \(fp32Layers.joined(separator: ", ")))"
    }
}
