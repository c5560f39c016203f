import ArgumentParser
import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels

/// `dydit routers tokens`: which patches skip the MLP, per timestep and block, drawn on the
/// images being sampled — the spatial routing (SDT) as pictures.
struct TokenMasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Draw the token router's decisions while sampling: which patches skip each block's MLP, at several timesteps.",
        discussion: """
        One row per image (one per --classes entry). Each row shows, for each of --timesteps \
        evenly spaced sampling steps, one tile per block: the final sample in gray (the mean of \
        its channels) with the \
        patches whose MLP was skipped at that step and block tinted red. Also writes the raw \
        masks beside the PNG (<out>.safetensors: token_masks [steps, images, depth, tokens], \
        1 = the MLP ran; timesteps [steps]).
        """)

    @Option(help: "Weights of a DyDiT (with its routers).")
    var weights: String
    @Option(help: "Class labels, comma-separated (one image each).")
    var classes = "0,1,2,3,4,5,6,7,8,9"
    @Option(help: "Sampler.")
    var sampler = "dpm-solver++"
    @Option(help: "Sampling steps.")
    var steps = 25
    @Option(help: "Steps drawn, evenly spaced from the first to the last.")
    var timesteps = 5
    @Option(help: "Classifier-free guidance scale (1 = none), on the eps channels.")
    var cfg: Float = 2
    @Option(help: "Seed of the noise.")
    var seed: UInt64 = 0
    @Option(help: "Output PNG.")
    var out: String
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            guard out.hasSuffix(".png") else { throw ValidationError("--out must end in .png (got \(out))") }
            guard (1...50).contains(timesteps) else { throw ValidationError("--timesteps must be in 1…50") }
            let ckpt = try Checkpoint(path: weights)
            let c = ckpt.config
            guard let routers = ckpt.routers else {
                throw ValidationError("\(weights) has no DyDiT routers: token masks need a fine-tuned DyDiT")
            }
            let labels = try classes.split(separator: ",").map { s -> Int in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)), (0..<c.numClasses).contains(v) else {
                    throw ValidationError("--classes: '\(s)' is not a class in 0…\(c.numClasses - 1)")
                }
                return v
            }
            guard !labels.isEmpty else { throw ValidationError("--classes is empty") }
            let ctx = try compute.context()
            let plan = ckpt.plan(asking: nil)
            let model = DiT(try ckpt.parameters(for: plan), ctx: ctx, precision: plan)
            let s = try SamplerRegistry.make(sampler, steps: steps, config: c, source: "--sampler \(sampler)")
            // Both routers, as the DyDiT samples: the token decisions read activations the width decisions shape.
            let routing = Routing(width: LearnedWidthRouter(routers, isa: ctx.isa), token: LearnedTokenRouter(routers))
            let loop = SamplingLoop(model: model, sampler: s, routing: routing,
                                    guidance: cfg == 1 ? nil : Guidance(scale: cfg, channels: .eps))
            let shown = Set((0..<timesteps).map { timesteps == 1 ? steps - 1 : Int((Double($0) * Double(steps - 1) / Double(timesteps - 1)).rounded()) })
            let n = labels.count, perStep = n * c.depth * c.tokens
            var masks: [Int: [Float]] = [:]
            loop.onRouting = { step, record in
                // The conditional rows come first in a guided batch.
                if shown.contains(step) { masks[step] = Array(record.tokenMasks.prefix(perStep)) }
            }
            var rng = RandomGenerator(seed: seed)
            let xT = rng.normals(n * c.imageSize)
            let samples = try loop.run(xT: xT, labels: labels, noise: .seeded(rng.next()))
            let order = shown.sorted()
            try PNGFile.write(picture(samples, masks: order.map { masks[$0]! }, config: c, images: n), to: out)
            let raw = order.flatMap { masks[$0]! }
            let stem = String(out.dropLast(4))
            try SafeTensorsWriter.write([("token_masks", Tensor(raw, shape: [order.count, n, c.depth, c.tokens])),
                                         ("timesteps", Tensor(order.map { Int64(s.timesteps[$0]) }, shape: [order.count]))],
                                        metadata: ["weights": weights, "classes": classes, "sampler": "\(sampler) \(steps)"],
                                        to: "\(stem).safetensors")
            let kept = raw.reduce(0, +) / Float(max(1, raw.count))
            print(String(format: "wrote %@ and %@.safetensors: %d images × %d steps (t = %@) × %d blocks; %.1f%% of tokens ran the MLP",
                         out, stem, n, order.count, order.map { "\(s.timesteps[$0])" }.joined(separator: ", "), c.depth, 100 * kept))
        }
    }

    /// Rows of images; per drawn step a group of `depth` tiles, skipped patches tinted red.
    func picture(_ samples: [Float], masks: [[Float]], config c: DiTConfig, images n: Int) -> Image {
        let side = c.inputSize, p = c.patchSize, grid = side / p, margin = 2, groupGap = 6
        let tileW = side + margin
        let width = masks.count * (c.depth * tileW + groupGap), height = n * (side + margin)
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for i in 0..<n {
            for (g, m) in masks.enumerated() {
                for b in 0..<c.depth {
                    let x0 = g * (c.depth * tileW + groupGap) + b * tileW, y0 = i * (side + margin)
                    for y in 0..<side {
                        for x in 0..<side {
                            var v: Float = 0
                            for ch in 0..<c.inChannels { v += samples[((i * c.inChannels + ch) * side + y) * side + x] }
                            let gray = UInt8(max(0, min(255, ((v / Float(c.inChannels) + 1) * 127.5).rounded())))
                            let ran = m[(i * c.depth + b) * c.tokens + (y / p) * grid + x / p] > 0.5
                            let o = ((y0 + y) * width + x0 + x) * 3
                            // Skipped: red over a dimmed image, so the garment stays visible.
                            pixels[o] = ran ? gray : UInt8(min(255, 110 + Int(gray) / 2))
                            pixels[o + 1] = ran ? gray : gray / 3
                            pixels[o + 2] = ran ? gray : gray / 3
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}
