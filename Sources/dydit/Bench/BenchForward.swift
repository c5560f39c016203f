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
    @Option(help: "Weight precision of every linear layer: fp32, fp16, int8 or bf16 (activations rounded to bf16 at each GEMM, fp32 sums; AMX or AVX512_BF16 where present).")
    var precision: WeightPrecision = .fp32
    @Option(help: "Layers kept in fp32 under a reduced precision, comma-separated (\(PrecisionPlan.layerNames.joined(separator: ", "))); 'attention' keeps a bf16 model's attention products in fp32.")
    var fp32Layers: String = ""
    @Flag(help: "Also print the time of each operation kind (per forward, summed over blocks); with --width-keep or --token-keep, the dynamic and the dense model's side by side, alternating.")
    var profile = false
    @Option(help: "DyDiT width keep ratio in (0, 1]: also time the model with random TDW masks keeping this share of heads and MLP groups (fast path).")
    var widthKeep: Double?
    @Option(help: "DyDiT token keep ratio in (0, 1]: also time the model with random SDT masks keeping this share of tokens (fast path).")
    var tokenKeep: Double?
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            let config = try benchModel(model, inputSize: inputSize, inChannels: inChannels, numClasses: numClasses, batch: batch)
            let layers = fp32Layers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            if let bad = layers.first(where: { !PrecisionPlan.layerNames.contains($0) }) {
                throw ValidationError("--fp32-layers names '\(bad)'; known layers: \(PrecisionPlan.layerNames.joined(separator: ", "))")
            }
            let ctx = try compute.context()
            let plan = PrecisionPlan(precision, fp32Layers: layers)
            let dit = DiT(DiTParameters.initialized(config, seed: 0, .random), ctx: ctx, precision: plan)
            var rng = RandomGenerator(seed: 1)
            let x = AlignedBuffer<Float>(count: batch * config.imageSize)
            for i in 0..<x.count { x.pointer[i] = rng.normal() }
            // One timestep for the whole batch, as in a sampling step.
            let t = [Float](repeating: Float(rng.below(1000)), count: batch)
            let y = (0..<batch).map { _ in rng.below(config.numClasses) }
            let out = AlignedBuffer<Float>(count: batch * config.outChannels * config.inputSize * config.inputSize)
            dit.reserve(batch: batch)
            if widthKeep != nil || tokenKeep != nil {
                try runDynamic(dit: dit, config: config, ctx: ctx, x: x.pointer, t: t, y: y, out: out.pointer)
                return
            }
            let times = repetitions.measure { dit.forward(x: x.pointer, t: t, y: y, out: out.pointer) }
            if profile {
                let profiler = OpProfiler()
                dit.profiler = profiler
                for _ in 0..<repetitions.iters { dit.forward(x: x.pointer, t: t, y: y, out: out.pointer) }
                dit.profiler = nil
                printError(ProfileTable.single(profiler, calls: repetitions.iters))
            }
            let ms = median(times)
            let gmacs = MACs(config).total / 1e9
            let gflops = 2 * gmacs * Double(batch) / ms * 1e3
            if repetitions.json {
                print(jsonLine([("ms", .double(ms)), ("ms_min", .double(times.min()!)), ("gmacs", .double(gmacs)),
                                ("gflops", .double(gflops)), ("model", .string(model)), ("batch", .int(Int64(batch))),
                                ("input_size", .int(Int64(inputSize))), ("in_channels", .int(Int64(inChannels))),
                                ("isa", .string(ctx.isa.rawValue)), ("threads", .int(Int64(ctx.threadCount))),
                                ("precision", .string(plan.description)), ("weight_bytes", .int(Int64(dit.weightBytes))),
                                ("workspace_bytes", .int(Int64(dit.workspaceBytes))), ("iters", .int(Int64(times.count)))]))
            } else {
                print(String(format: "%@ forward, batch %d, %@ on %@, %d thread(s): median %.2f ms, %.3f GMACs/image, %.1f GFLOP/s",
                             model, batch, plan.description, ctx.isa.rawValue, ctx.threadCount, ms, gmacs, gflops))
            }
        }
    }

    /// Dense and dynamic forwards alternate, so both see the same machine; one JSON object.
    func runDynamic(dit: DiT, config: DiTConfig, ctx: ComputeContext, x: UnsafePointer<Float>, t: [Float], y: [Int],
                    out: UnsafeMutablePointer<Float>) throws {
        for (name, keep) in [("--width-keep", widthKeep), ("--token-keep", tokenKeep)] {
            if let keep, !(keep > 0 && keep <= 1) { throw ValidationError("\(name) \(keep) is outside (0, 1]") }
        }
        let width = try widthKeep.map { try RandomWidthRouter(config: config, keep: $0, seed: 7) }
        let token = try tokenKeep.map { try RandomTokenRouter(keep: $0, seed: 8) }
        let routing = Routing(width: width, token: token, fast: true)
        let record = RoutingRecord(batch: batch, config: config, routerOutputs: config.numHeads - 1)
        dit.forward(x: x, t: t, y: y, out: out, routing: routing, record: record)
        let dynamic = DynamicMACs(config: config, record: record, widthRouted: false, tokenRouted: false)
        var dense: [Double] = [], routed: [Double] = []
        let clock = ContinuousClock()
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15 }
        for i in 0..<(repetitions.warmup + repetitions.iters) {
            let a = clock.measure { dit.forward(x: x, t: t, y: y, out: out) }
            let b = clock.measure { dit.forward(x: x, t: t, y: y, out: out, routing: routing) }
            if i >= repetitions.warmup { dense.append(ms(a)); routed.append(ms(b)) }
        }
        if profile {
            // Dense and dynamic alternate here too, each with its own profiler: per-operation
            // ratios from one process and the same minutes (separate runs differ by more than
            // the few per cent being looked for).
            let denseProfile = OpProfiler(), routedProfile = OpProfiler()
            var denseWall = 0.0, routedWall = 0.0
            for _ in 0..<repetitions.iters {
                dit.profiler = denseProfile
                denseWall += ms(clock.measure { dit.forward(x: x, t: t, y: y, out: out) })
                dit.profiler = routedProfile
                routedWall += ms(clock.measure { dit.forward(x: x, t: t, y: y, out: out, routing: routing) })
            }
            dit.profiler = nil
            printError(ProfileTable.compare(routedProfile, dense: denseProfile, routedWall: routedWall, denseWall: denseWall,
                                            preparation: 0, calls: repetitions.iters))
        }
        let denseMs = median(dense), dynamicMs = median(routed)
        let denseG = dynamic.dense.total / 1e9, dynamicG = dynamic.total / 1e9
        let speedup = denseMs / dynamicMs
        if repetitions.json {
            print(jsonLine([("dense_ms", .double(denseMs)), ("dynamic_ms", .double(dynamicMs)),
                            ("dense_gmacs", .double(denseG)), ("dynamic_gmacs", .double(dynamicG)),
                            ("speedup", .double(speedup)), ("macs_ratio", .double(denseG / dynamicG)),
                            ("speedup_over_macs_ratio", .double(speedup / (denseG / dynamicG))),
                            ("flops_ratio", .double(dynamic.ratio)), ("width_keep", widthKeep.map { .double($0) } ?? .null),
                            ("token_keep", tokenKeep.map { .double($0) } ?? .null), ("model", .string(model)),
                            ("batch", .int(Int64(batch))), ("isa", .string(ctx.isa.rawValue)),
                            ("threads", .int(Int64(ctx.threadCount))), ("precision", .string(precision.rawValue)),
                            ("slice_cache_bytes", .int(Int64(dit.slices.bytes))), ("iters", .int(Int64(dense.count)))]))
        } else {
            print(String(format: "%@ batch %d, %d thread(s): dense %.2f ms (%.3f GMACs/image), dynamic %.2f ms (%.3f GMACs/image, FLOPs ratio %.3f): speed-up %.2f× for %.2f× fewer MACs",
                         model, batch, ctx.threadCount, denseMs, denseG, dynamicMs, dynamicG, dynamic.ratio, speedup, denseG / dynamicG))
        }
    }
}
