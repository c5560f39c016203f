import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTTraining

/// The files a run leaves besides `metrics.json` and `log.txt`: its samples
/// (`samples.safetensors`), the samples as a grid with one column per class (`samples.png`),
/// dense | dynamic from the same noise (`dense-vs-dynamic.png`), and the width router's masks
/// over the schedule (`masks.csv`).
enum RunFiles {
    static func write(into dir: String, run: SpecFile.Run, images: RunImages, samples: [Float], denseSamples: [Float]?,
                      model: DiT, width: WidthRouter?, timesteps: [Double], say: (String) -> Void) throws {
        let spec = run.spec, c = model.config, labels = images.labels
        try SafeTensorsWriter.write([("samples", Tensor(samples, shape: [labels.count, c.inChannels, c.inputSize, c.inputSize])),
                                     ("classes", Tensor(labels.map { Int64($0) }, shape: [labels.count]))],
                                    metadata: ["spec": spec.resolved.serialized(), "run": run.id], to: "\(dir)/samples.safetensors")
        if spec.grid && !(c.inChannels == 1 || c.inChannels == 3) {
            say("no samples.png: the model makes \(c.inChannels)-channel VAE latents, which this project cannot decode to pixels; samples.safetensors holds them (Notebooks/decode-latents.ipynb decodes them with diffusers' VAE)")
        } else if spec.grid {
            // One column per class, named under it.
            let name = { ImageDataset.gridLabel($0, numClasses: c.numClasses, inChannels: c.inChannels) }
            try PNGFile.write(ImageGrid.byClass(samples, labels: labels, channels: c.inChannels, height: c.inputSize,
                                                width: c.inputSize, names: name, scale: spec.gridScale), to: "\(dir)/samples.png")
            // Dense | dynamic from the same noise, one row per class: what the routing changed.
            if let denseSamples {
                let timed = images.timedImages
                try PNGFile.write(ImageGrid.sideBySide(denseSamples, Array(samples.prefix(timed * c.imageSize)),
                                                       labels: Array(labels.prefix(timed)), channels: c.inChannels,
                                                       height: c.inputSize, width: c.inputSize, names: name,
                                                       titles: ("DENSE", "DYNAMIC"), scale: spec.gridScale),
                                  to: "\(dir)/dense-vs-dynamic.png")
            }
        }
        if let width {
            let (attn, mlp) = WidthMaskExport.masks(router: width, model: model, timesteps: timesteps)
            try AtomicFile.write(WidthMaskExport.csv(timesteps: timesteps, attn: attn, mlp: mlp, depth: c.depth, heads: c.numHeads),
                                 to: "\(dir)/masks.csv")
        }
    }
}
