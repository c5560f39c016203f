import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Store a model's linear layers in fp16 or int8, with their scales, for loading without an fp32 copy.",
        discussion: """
        The output is a safetensors file: each linear layer's weight in F16, or in I8 with \
        `<layer>.weight_scale` (F32, one scale per output row); layers named by --fp32-layers, \
        biases, embeddings and DyDiT routers stay F32; the metadata records the plan \
        (dydit.quantized, dydit.precision, dydit.fp32_layers). The values are those quantizing at \
        load time gives, so `--precision int8` on the float file and the quantized file run \
        bit-identically. The file is written atomically and read back before the command succeeds.
        """)

    @Argument(help: "A float weights file (.safetensors with the config in its metadata; DiT or DyDiT).")
    var weights: String

    @Option(help: "fp16 or int8.")
    var precision: WeightPrecision

    @Option(help: "Layers kept in fp32, comma-separated (\(PrecisionPlan.layerNames.joined(separator: ", "))).")
    var fp32Layers: String = ""

    @Option(help: "Output .safetensors file.")
    var out: String

    func run() throws {
        try reportingErrors {
            guard precision != .fp32 else { throw ValidationError("--precision must be fp16 or int8: fp32 is what the float file already holds") }
            guard precision != .bf16 else { throw ValidationError("--precision must be fp16 or int8: bf16 rounds the fp32 weights at load time, so run the float file with --precision bf16 (a stored copy would save nothing)") }
            guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors (got \(out))") }
            let layers = fp32Layers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            if let bad = layers.first(where: { !PrecisionPlan.layerNames.contains($0) }) {
                throw ValidationError("--fp32-layers names '\(bad)'; known layers: \(PrecisionPlan.layerNames.joined(separator: ", "))")
            }
            guard URL(fileURLWithPath: out).standardized.path != URL(fileURLWithPath: weights).standardized.path else {
                throw ValidationError("--out is the input file; write the quantized weights beside it")
            }
            let ckpt = try Checkpoint(path: weights)
            if let plan = ckpt.quantization {
                throw ValidationError("\(weights) is quantized already (\(plan)); quantize the float file it was made from")
            }
            let plan = PrecisionPlan(precision, fp32Layers: layers)
            var tensors = QuantizedFormat.tensors(ckpt.parameters, plan: plan)
            for name in ckpt.routerTensors { tensors.append((name, try ckpt.file.tensor(name))) }
            var metadata = ckpt.file.metadata.merging(QuantizedFormat.metadata(plan)) { $1 }
            metadata["quantized_from"] = (weights as NSString).lastPathComponent
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: out)
            // Read back through the loader every run uses, so a file that passes here loads there.
            let written = try Checkpoint(path: out)
            _ = try written.parameters(for: plan)
            func megabytes(_ file: SafeTensorsFile) -> String {
                String(format: "%.1f MB", Double(file.entries.values.reduce(0) { $0 + $1.end - $1.begin }) / 1_048_576)
            }
            let counts = Dictionary(grouping: plan.linearLayers(ckpt.config), by: \.precision).mapValues { $0.reduce(0) { $0 + $1.names.count } }
            let summary = WeightPrecision.allCases.compactMap { p in counts[p].map { "\($0) \(p)" } }.joined(separator: ", ")
            print("wrote \(out): linear layers \(summary); tensors \(megabytes(ckpt.file)) → \(megabytes(written.file))")
        }
    }
}
