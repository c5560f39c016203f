import ArgumentParser
import DyDiTIO
import DyDiTModels
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a weights file's config, parameter count and MACs per forward.")

    @Argument(help: "A .safetensors weights file (official state-dict names, config in the metadata).")
    var weights: String

    func run() throws {
        try reportingErrors {
            let ckpt = try Checkpoint(path: weights)
            let c = ckpt.config
            func count(_ names: [String]) -> Int { names.reduce(0) { $0 + ckpt.file.entries[$1]!.shape.reduce(1, *) } }
            let total = count(ckpt.file.names.filter { !$0.hasSuffix(QuantizedFormat.scaleSuffix) })
            let fixed = count(ckpt.file.names.filter { $0 == "pos_embed" })
            let routers = count(ckpt.routerTensors)
            print("file:        \(weights)")
            print("model:       \(ckpt.isDyDiT ? "DyDiT" : "DiT") — \(c)")
            var line = "parameters:  \(formatCount(total - fixed)) trainable (\(total - fixed)) + fixed pos_embed \(fixed)"
            if ckpt.isDyDiT { line += "; routers \(formatCount(routers))" }
            print(line)
            if let plan = ckpt.quantization {
                let bytes = ckpt.file.entries.values.reduce(0) { $0 + $1.end - $1.begin }
                print("weights:     quantized by dydit quantize: \(plan); \(String(format: "%.1f", Double(bytes) / 1_048_576)) MB of tensors")
            }
            let macs = MACs(c)
            print("MACs per forward, per image (dense):")
            for (name, value) in macs.summary {
                print("  \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) \(formatMACs(value))")
            }
            if let note = ckpt.file.metadata["source"] { print("source:      \(note)") }
        }
    }
}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.2f M", Double(n) / 1e6) }
    if n >= 1_000 { return String(format: "%.1f K", Double(n) / 1e3) }
    return "\(n)"
}

/// MACs with a unit that keeps three or more significant digits.
func formatMACs(_ v: Double) -> String {
    if v >= 1e9 { return String(format: "%10.3f G", v / 1e9) }
    if v >= 1e6 { return String(format: "%10.3f M", v / 1e6) }
    return String(format: "%10.3f K", v / 1e3)
}
