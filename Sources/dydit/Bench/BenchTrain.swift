import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import Foundation

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time one optimiser step of DiT training (forward, hybrid loss, backward, AdamW, EMA).",
        discussion: """
        The step `dydit train` runs, on random images: label dropout 0.1, uniform timesteps, AdamW \
        (lr 1e-4, no weight decay), EMA 0.9999, learn_sigma on. scripts/bench_pytorch.py train times \
        the same step in PyTorch; scripts/compare_forward.py --kind train alternates the two.
        """)

    @Option(help: "Model name: DiT-{S,B,L,XL}/{2,4,8}.")
    var model: String = "DiT-S/4"
    @Option var inputSize: Int = 32
    @Option var inChannels: Int = 1
    @Option var numClasses: Int = 10
    @Option var batch: Int = 16
    @Option(help: "The linear layers' products: fp32, or bf16 (operands rounded, fp32 sums; train.products).")
    var products: String = "fp32"
    @Flag(help: "Fine-tune a DyDiT instead: routers on, FLOPs loss at λ = 0.5 and the complete-model loss.")
    var dydit = false
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            let config = try benchModel(model, inputSize: inputSize, inChannels: inChannels, numClasses: numClasses, batch: batch)
            let ctx = try compute.context()
            let routers = dydit ? RouterParameters.initialized(config, seed: 0) : nil
            let net = try TrainableDiT(DiTParameters.initialized(config, seed: 0, .random), routers: routers, ctx: ctx)
            // Random bytes as images: timing does not depend on the pixels.
            var rng = RandomGenerator(seed: 1)
            let count = 4 * batch, side = inputSize
            let pixels = (0..<(count * side * side * inChannels)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let data = ImageDataset(name: "random", width: side, height: side, channels: inChannels, pixels: pixels,
                                    labels: (0..<count).map { $0 % numClasses }, classNames: (0..<numClasses).map(String.init))
            var settings = TrainingSettings()
            settings.batch = batch
            guard let products = TrainingProducts(rawValue: products) else {
                throw ValidationError("--products is '\(self.products)'; expected one of \(TrainingProducts.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            settings.products = products
            if dydit {
                settings.timesteps = .stratified
                settings.dydit = .init(lambda: LambdaSchedule(target: 0.5, holdSteps: 0, rampSteps: 0), completeModelSteps: Int.max)
            }
            let loader = try BatchLoader(dataset: data, batch: batch, inputSize: inputSize, channels: inChannels, flip: false, seed: 2)
            let trainer = try Trainer(model: net, loader: loader, settings: settings)
            var last: StepRecord?
            let times = try repetitions.measure { last = try trainer.trainStep() }
            let ms = median(times)
            let gmacs = MACs(config).total / 1e9
            let trainable = net.parameters.entries.filter(\.trainable).reduce(0) { $0 + $1.count }
            if repetitions.json {
                print(jsonLine([("ms", .double(ms)), ("ms_min", .double(times.min()!)), ("ms_all", .array(times.map { .double($0) })),
                                ("images_per_s", .double(Double(batch) / ms * 1e3)), ("gmacs", .double(gmacs)),
                                ("loss", .double(last?.loss ?? .nan)), ("model", .string(model)), ("batch", .int(Int64(batch))),
                                ("input_size", .int(Int64(inputSize))), ("in_channels", .int(Int64(inChannels))),
                                ("num_classes", .int(Int64(numClasses))), ("dydit", .bool(dydit)), ("products", .string(products.rawValue)),
                                ("trainable_params", .int(Int64(trainable))), ("isa", .string(ctx.isa.rawValue)),
                                ("threads", .int(Int64(ctx.threadCount))), ("workspace_bytes", .int(Int64(net.workspaceBytes))),
                                ("iters", .int(Int64(times.count)))]))
            } else {
                print(String(format: "%@ %@ step (%@ products), batch %d, %@, %d thread(s): median %.1f ms (%.1f images/s), %.3f GMACs per image forward",
                             model, dydit ? "DyDiT fine-tuning" : "training", products.rawValue, batch, ctx.isa.rawValue, ctx.threadCount, ms,
                             Double(batch) / ms * 1e3, gmacs))
            }
        }
    }
}
