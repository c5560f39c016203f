import DyDiTIO
import DyDiTModels

/// A weight precision selectable by name from a spec: `"precision": name`, or
/// `{"type": name, …options}`. It turns its options into the plan the model is packed with.
public protocol PrecisionPlugin: NamedPlugin {
    static func plan(_ options: PluginOptions) -> PrecisionPlan
}

enum PrecisionOptions {
    /// Layers a reduced precision leaves in fp32 (the sensitive ones: adaLN, final layer, …).
    static let fp32Layers = PluginOption(
        "fp32_layers", .array([]), "layers kept in fp32, of: \(PrecisionPlan.layerNames.joined(separator: ", "))",
        check: OptionCheck(failure: "names a layer that does not exist; layers: \(PrecisionPlan.layerNames.joined(separator: ", "))") { v in
            v.arrayValue.map { $0.allSatisfy { $0.stringValue.map(PrecisionPlan.layerNames.contains) ?? false } } ?? false
        })

    static func layers(_ o: PluginOptions) -> [String] { o["fp32_layers"].arrayValue?.compactMap(\.stringValue) ?? [] }
}

public enum FP32Precision: PrecisionPlugin {
    public static let name = "fp32"
    public static let summary = "fp32 weights and arithmetic on the SIMD kernels"
    public static let options: [PluginOption] = []
    public static func plan(_ o: PluginOptions) -> PrecisionPlan { PrecisionPlan(.fp32) }
}

public enum FP16Precision: PrecisionPlugin {
    public static let name = "fp16"
    public static let summary = "fp16 weights (half the memory), widened to fp32 in the GEMM micro-kernel (F16C / AVX-512)"
    public static var options: [PluginOption] { [PrecisionOptions.fp32Layers] }
    public static func plan(_ o: PluginOptions) -> PrecisionPlan { PrecisionPlan(.fp16, fp32Layers: PrecisionOptions.layers(o)) }
}

public enum BF16Precision: PrecisionPlugin {
    public static let name = "bf16"
    public static let summary = "bf16 weights, activations rounded to bf16 at each GEMM's input, fp32 sums (AMX tiles or AVX512_BF16 where the CPU has them; elsewhere a fallback tile several times slower than fp32)"
    public static var options: [PluginOption] { [PrecisionOptions.fp32Layers] }
    public static func plan(_ o: PluginOptions) -> PrecisionPlan { PrecisionPlan(.bf16, fp32Layers: PrecisionOptions.layers(o)) }
}

public enum Int8Precision: PrecisionPlugin {
    public static let name = "int8"
    public static let summary = "int8 weights per output channel, activations quantized per row at run time, int32 products (AVX-512 VNNI, AVX2, portable)"
    public static var options: [PluginOption] { [PrecisionOptions.fp32Layers] }
    public static func plan(_ o: PluginOptions) -> PrecisionPlan { PrecisionPlan(.int8, fp32Layers: PrecisionOptions.layers(o)) }
}
