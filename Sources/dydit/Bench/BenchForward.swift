import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Time a DiT forward pass with random weights.")

    @Option(help: "Model name: DiT-{S,B,L,XL}/{2,4,8}.")
    var model: String = "DiT-S/2"
    @Option(help: "Input size (latent side; 32 is ImageNet 256 through the VAE).")
    var inputSize: Int = 32
    @Option var inChannels: Int = 4
    @Option var numClasses: Int = 1000
    @Option var batch: Int = 2
    @Option(help: "Weight precision (fp32; fp16 and int8 come with the precision issue).")
    var precision: String = "fp32"
    @Flag(help: "Also print the time of each operation kind (per forward, summed over blocks).")
    var profile = false
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            guard precision == "fp32" else {
                throw ValidationError("precision '\(precision)' is not available yet; valid: fp32")
            }
            let config = try DiTConfig.named(model, inputSize: inputSize, inChannels: inChannels, numClasses: numClasses)
            if let problem = config.problems().first { throw ValidationError(problem) }
            let ctx = try compute.context()
            let dit = DiT(DiTParameters.initialized(config, seed: 0, .random), ctx: ctx)
            var rng = RandomGenerator(seed: 1)
            let x = AlignedBuffer<Float>(count: batch * config.imageSize)
            for i in 0..<x.count { x.pointer[i] = rng.normal() }
            let t = (0..<batch).map { _ in Float(rng.below(1000)) }
            let y = (0..<batch).map { _ in rng.below(config.numClasses) }
            let out = AlignedBuffer<Float>(count: batch * config.outChannels * config.inputSize * config.inputSize)
            dit.reserve(batch: batch)
            let times = repetitions.measure { dit.forward(x: x.pointer, t: t, y: y, out: out.pointer) }
            if profile {
                let profiler = OpProfiler()
                dit.profiler = profiler
                for _ in 0..<repetitions.iters { dit.forward(x: x.pointer, t: t, y: y, out: out.pointer) }
                dit.profiler = nil
                let total = profiler.totals.values.reduce(0, +)
                for name in profiler.order {
                    let v = profiler.totals[name]! / Double(repetitions.iters)
                    let label = name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    printError(label + String(format: " %8.2f ms  %5.1f%%", v, 100 * profiler.totals[name]! / total))
                }
            }
            let ms = median(times)
            let gmacs = MACs(config).total / 1e9
            let gflops = 2 * gmacs * Double(batch) / ms * 1e3
            if repetitions.json {
                print(jsonLine([("ms", .double(ms)), ("ms_min", .double(times.min()!)), ("gmacs", .double(gmacs)),
                                ("gflops", .double(gflops)), ("model", .string(model)), ("batch", .int(Int64(batch))),
                                ("input_size", .int(Int64(inputSize))), ("in_channels", .int(Int64(inChannels))),
                                ("isa", .string(ctx.isa.rawValue)), ("threads", .int(Int64(ctx.threadCount))),
                                ("precision", .string(precision)), ("weight_bytes", .int(Int64(dit.weightBytes))),
                                ("workspace_bytes", .int(Int64(dit.workspaceBytes))), ("iters", .int(Int64(times.count)))]))
            } else {
                print(String(format: "%@ forward, batch %d, %@ on %@, %d thread(s): median %.2f ms, %.3f GMACs/image, %.1f GFLOP/s",
                             model, batch, precision, ctx.isa.rawValue, ctx.threadCount, ms, gmacs, gflops))
            }
        }
    }
}
