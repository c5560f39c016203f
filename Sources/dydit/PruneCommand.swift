import ArgumentParser
import DyDiTIO
import DyDiTModels
import DyDiTTraining
import Foundation

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove whole blocks from a DiT (static depth pruning), keeping the ones whose removal costs most; fine-tune the result with dydit train.",
        discussion: """
        The criterion: on --images noised Fashion-MNIST test images (t uniform, the images' own \
        labels), the eps MSE of the model with each block skipped, against the whole model's; the \
        --keep blocks whose removal raises it most stay (or exactly --blocks). Writes a float \
        safetensors file (F16 when the source is) with depth = the kept blocks, their weights unchanged (renamed in order), \
        and the provenance in metadata (source file and SHA-256, kept blocks, each block's MSE). \
        Half the blocks is half the blocks' MACs: DyDiT's λ = 0.5 budget \
        (Experiments/pruned-dit.json fine-tunes and evaluates it).
        """)

    @Argument(help: "A float DiT weights file (.safetensors with the config in its metadata).")
    var weights: String
    @Option(help: "Blocks to keep, chosen by the criterion.")
    var keep: Int?
    @Option(help: "Exactly these blocks, comma-separated (the criterion is still measured and printed).")
    var blocks: String?
    @Option(help: "Noised test images the criterion is measured on.")
    var images: Int = 500
    @Option(help: "Seed of the images' order, timesteps and noise.")
    var seed: UInt64 = 0
    @Option(help: "Fashion-MNIST folder (Debian's dataset-fashion-mnist).")
    var dataset: String = ImageDataset.fashionMNISTDirectory
    @Option(help: "Output .safetensors file.")
    var out: String
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors (got \(out))") }
            guard (keep == nil) != (blocks == nil) else { throw ValidationError("give --keep N (the criterion chooses) or --blocks i,j,… (you choose), one of them") }
            guard images >= 1 else { throw ValidationError("--images \(images): the criterion needs at least one image") }
            let ckpt = try Checkpoint(path: weights)
            let c = ckpt.config
            if ckpt.isDyDiT { printError("note: \(weights) holds DyDiT routers; the pruned file keeps the DiT only") }
            if let keep, !(1..<c.depth).contains(keep) { throw ValidationError("--keep \(keep): keep 1 to \(c.depth - 1) of the model's \(c.depth) blocks") }
            let model = DiT(try ckpt.parameters(for: .fp32), ctx: try compute.context())
            let data = try ImageDataset.fashionMNIST(directory: dataset, split: "test")
            let progress = ProgressLine(label: "criterion", total: images)
            let result = try BlockImportance.measure(model: model, dataset: data, images: images, seed: seed) { done, _ in
                progress.update(done, detail: "images")
            }
            printError(String(format: "eps MSE on %d noised test images: whole model %.5f; without block:", result.images, result.fullMSE))
            for (l, mse) in result.skippedMSE.enumerated() {
                printError(String(format: "  block %d: %.5f (+%.1f%%)", l, mse, 100 * (mse / result.fullMSE - 1)))
            }
            let kept: [Int]
            if let blocks {
                kept = try blocks.split(separator: ",").map {
                    guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--blocks '\(blocks)': not a list of block indices") }
                    return v
                }
            } else {
                kept = result.keep(keep!)
            }
            let pruned = try BlockPruning.keep(kept, of: ckpt.parameters)
            // An F16 source stays F16: its values are F16 already, so nothing is lost.
            let halves = ckpt.file.entries[DiTLayerNames.block(0).qkv + ".weight"]?.dtype == .f16
            let mses = result.skippedMSE.map { String(format: "%.6g", $0) }.joined(separator: ",")
            try pruned.save(to: out, metadata: [
                "pruned_from": (weights as NSString).lastPathComponent,
                "pruned_from_sha256": try FileDigest.sha256(weights).sha256,
                "kept_blocks": kept.map(String.init).joined(separator: ","),
                "criterion": "eps MSE with the block skipped, \(result.images) noised Fashion-MNIST test images, seed \(seed)",
                "criterion_full_mse": String(format: "%.6g", result.fullMSE),
                "criterion_block_mse": mses,
            ], halves: halves)
            print("kept blocks \(kept) of \(c.depth) (blocks' MACs \(kept.count)/\(c.depth)); wrote \(out)")
        }
    }
}
