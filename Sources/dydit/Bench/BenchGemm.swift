import ArgumentParser
import DyDiTIO
import DyDiTKernels
import Foundation

/// What `bench gemm` multiplies with: the model precisions and the int8 product.
enum GemmPrecision: String, ExpressibleByArgument, CaseIterable {
    case fp32, fp16, int8, bf16
}

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Time C[M,N] = A[M,K]·Wᵀ with W [N,K] packed as model weights are.")

    @Option var m: Int = 256
    @Option var n: Int = 1152
    @Option var k: Int = 1152
    @Option(help: "Weight precision: fp32, fp16 (stored as halves, widened in the micro-kernel) int8 (per-channel weights, activations quantized per row, int32 dot products) or bf16 (weights and activations rounded to bf16, fp32 sums: vdpbf16ps where the CPU has AVX512_BF16).")
    var precision: GemmPrecision = .fp32
    @Option(help: "int8 activation scales: token (one per row) or q8_0 (one per row and block of 32 along K).")
    var activations: Int8ActivationScheme = .perRow
    @Option(help: "fp32 and fp16: rotate through this many copies of the weights, one per run. With copies × weights larger than the last-level cache, each product reads its weights from memory, as in a model's forward; with 1 they stay in cache.")
    var weightCopies: Int = 1
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            guard m >= 1, n >= 1, k >= 1 else { throw ValidationError("--m, --n and --k must be at least 1") }
            guard weightCopies >= 1 else { throw ValidationError("--weight-copies must be at least 1") }
            if weightCopies > 1 && (precision == .int8 || precision == .bf16) {
                throw ValidationError("--weight-copies works with --precision fp32 and fp16; \(precision.rawValue) keeps one copy")
            }
            let ctx = try compute.context()
            var rng = RandomGenerator(seed: 0)
            let a = AlignedBuffer<Float>(count: m * k)
            for i in 0..<(m * k) { a.pointer[i] = rng.normal() }
            let w = rng.normals(n * k)
            let c = AlignedBuffer<Float>(count: m * n)
            let times: [Double], weightBytes: Int
            var path: String? = nil
            if precision == .bf16 {
                let weights = BF16Matrix.rounding(w, n: n, k: k), workspace = BF16Activations()
                weightBytes = weights.byteCount
                path = BF16Path.best(for: ctx.isa).rawValue
                times = repetitions.measure {
                    BF16Gemm.linear(a.pointer, rows: m, weight: weights, bias: nil, out: c.pointer, workspace: workspace, ctx: ctx)
                }
            } else if precision != .int8, let fp = WeightPrecision(rawValue: precision.rawValue) {
                let copies = (0..<weightCopies).map { _ in PackedMatrix.packing(w, n: n, k: k, isa: ctx.isa, precision: fp) }
                weightBytes = copies[0].byteCount
                var next = 0
                times = repetitions.measure {
                    Gemm.linear(a.pointer, rows: m, weight: copies[next], bias: nil, out: c.pointer, ctx: ctx)
                    next = (next + 1) % copies.count
                }
            } else {
                let weights = Int8Matrix.quantizing(w, n: n, k: k), workspace = Int8Activations()
                // Block sums belong with the weights, like the column sums: built before timing.
                let sums = activations == .block32 ? Int8BlockSums(weights) : nil
                ctx.int8Activations = activations
                weightBytes = weights.byteCount + (sums?.byteCount ?? 0)
                path = ctx.int8Path.rawValue
                times = repetitions.measure {
                    Int8Gemm.linear(a.pointer, rows: m, weight: weights, bias: nil, out: c.pointer, workspace: workspace, ctx: ctx,
                                    blockSums: sums)
                }
            }
            let ms = median(times)
            let gflops = 2 * Double(m) * Double(n) * Double(k) / (ms * 1e6)
            if repetitions.json {
                print(jsonLine([("ms", .double(ms)), ("ms_min", .double(times.min()!)), ("gflops", .double(gflops)),
                                ("isa", .string(ctx.isa.rawValue)), ("threads", .int(Int64(ctx.threadCount))),
                                ("precision", .string(precision.rawValue)), ("weight_bytes", .int(Int64(weightBytes))),
                                ("weight_copies", .int(Int64(weightCopies))),
                                ("int8_path", precision == .int8 ? path.map { .string($0) } ?? .null : .null),
                                ("int8_activations", precision == .int8 ? .string(activations.rawValue) : .null),
                                ("bf16_path", precision == .bf16 ? path.map { .string($0) } ?? .null : .null),
                                ("m", .int(Int64(m))), ("n", .int(Int64(n))),
                                ("k", .int(Int64(k))), ("iters", .int(Int64(times.count)))]))
            } else {
                print(String(format: "gemm %d×%d×%d %@ weights on %@%@, %d thread(s): median %.3f ms, %.1f GOP/s",
                             m, n, k, precision.rawValue, ctx.isa.rawValue,
                             precision == .int8 ? path.map { " (int8 path \($0), \(activations.rawValue) activation scales)" } ?? ""
                                 : precision == .bf16 ? path.map { " (bf16 path \($0))" } ?? "" : "",
                             ctx.threadCount, ms, gflops))
            }
        }
    }
}

struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Measure the arithmetic peak: independent vector FMAs (or bf16 / int8 dot products) on registers, every thread.")

    @OptionGroup var compute: ComputeOptions
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Measure vdpbf16ps (AVX512_BF16: two bf16 products per fp32 lane) instead of fp32 FMAs.") var bf16 = false
    @Flag(help: "Measure vpdpbusd (AVX-512 VNNI: four int8 products per int32 lane) instead of fp32 FMAs; reported as GOP/s, two per product.") var int8 = false

    func run() throws {
        try reportingErrors {
            let ctx = try compute.context()
            // The usage error first: it is wrong on every CPU, whatever this one lacks.
            if int8 && bf16 { throw ValidationError("--int8 and --bf16: measure one instruction at a time") }
            if bf16 && !BF16Path.avx512bf16.isSupported() {
                throw ValidationError("--bf16 measures vdpbf16ps, which this CPU lacks (no AVX512_BF16: \(CPUFeatures.current.brand))")
            }
            if int8 && !Int8Path.vnni.isSupported() {
                throw ValidationError("--int8 measures vpdpbusd, which this CPU lacks (no AVX-512 VNNI: \(CPUFeatures.current.brand))")
            }
            let loop: ((Int) -> (flops: Double, sink: Float))? =
                bf16 ? { BF16Path.dotProductPeakLoop(iterations: $0) }
                : int8 ? { let r = Int8Path.dotProductPeakLoop(iterations: $0); return (r.ops, Float(r.sink)) } : nil
            let best = peakGFLOPs(ctx, loop: loop)
            let instruction = bf16 ? "vdpbf16ps" : int8 ? "vpdpbusd" : "fma"
            if json {
                print(jsonLine([("gflops", .double(best)), ("gflops_per_thread", .double(best / Double(ctx.threadCount))),
                                ("instruction", .string(instruction)), ("unit", .string(int8 ? "GOP/s" : "GFLOP/s")),
                                ("isa", .string(ctx.isa.rawValue)), ("threads", .int(Int64(ctx.threadCount)))]))
            } else {
                print(String(format: "%@ peak on %@, %d thread(s): %.1f %@ (%.1f per thread)",
                             bf16 ? "bf16 vdpbf16ps" : int8 ? "int8 vpdpbusd" : "fp32", ctx.isa.rawValue, ctx.threadCount, best,
                             int8 ? "GOP/s" : "GFLOP/s", best / Double(ctx.threadCount)))
            }
        }
    }
}

/// The fp32 arithmetic peak of `ctx` in GFLOP/s: independent vector FMAs on registers on every
/// thread, the best of three passes (`dydit bench peak`, `dydit doctor`).
func peakGFLOPs(_ ctx: ComputeContext, iterations: Int = 20_000_000,
                loop: ((Int) -> (flops: Double, sink: Float))? = nil) -> Double {
    var best = 0.0
    for _ in 0..<3 {
        let clock = ContinuousClock()
        var flops = 0.0
        let elapsed = clock.measure {
            let perThread = UnsafeMutablePointer<Double>.allocate(capacity: ctx.threadCount)
            defer { perThread.deallocate() }
            ctx.pool.run(tasks: ctx.threadCount) { task, _ in
                perThread[task] = (loop ?? { Dispatch.peakLoop(ctx.isa, iterations: $0) })(iterations).flops
            }
            flops = (0..<ctx.threadCount).reduce(0) { $0 + perThread[$1] }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        best = max(best, flops / seconds / 1e9)
    }
    return best
}
