import ArgumentParser
import DyDiTIO
import DyDiTKernels

struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Time multi-head softmax attention on a fused qkv matrix (QKᵀ, softmax, PV).")

    @Option var batch: Int = 2
    @Option var tokens: Int = 256
    @Option var heads: Int = 6
    @Option var headDim: Int = 64
    @Option(help: "fp32, or bf16 (both products on bf16 operands with fp32 sums: AMX, AVX512_BF16 or the fallback tile).")
    var precision: WeightPrecision = .fp32
    @Option(help: "fp32 kernel: auto (by length), blocked (a block of queries against every key) or tiled (online softmax over key tiles).")
    var kernel: AttentionKernel = .auto
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            guard batch >= 1, tokens >= 1, heads >= 1, headDim >= 1 else {
                throw ValidationError("--batch, --tokens, --heads and --head-dim must be at least 1")
            }
            guard precision == .fp32 || precision == .bf16 else {
                throw ValidationError("--precision \(precision.rawValue): attention runs in fp32 or bf16")
            }
            let ctx = try compute.context()
            let d = heads * headDim
            var rng = RandomGenerator(seed: 0)
            let qkv = AlignedBuffer<Float>(count: batch * tokens * 3 * d)
            for i in 0..<qkv.count { qkv.pointer[i] = rng.normal() }
            let out = AlignedBuffer<Float>(count: batch * tokens * d)
            let times = repetitions.measure {
                if precision == .bf16 {
                    BF16Attention.forward(qkv: qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: tokens, heads: heads,
                                          headDim: headDim, out: out.pointer, ldo: d, ctx: ctx)
                } else {
                    Attention.forward(qkv: qkv.pointer, ldqkv: 3 * d, batch: batch, tokens: tokens, heads: heads,
                                      headDim: headDim, out: out.pointer, ldo: d, ctx: ctx, kernel: kernel)
                }
            }
            let ms = median(times)
            let gflops = 2 * 2 * Double(batch * heads) * Double(tokens * tokens * headDim) / (ms * 1e6)
            if repetitions.json {
                print(jsonLine([("ms", .double(ms)), ("gflops", .double(gflops)), ("isa", .string(ctx.isa.rawValue)),
                                ("threads", .int(Int64(ctx.threadCount))), ("batch", .int(Int64(batch))), ("precision", .string(precision.rawValue)),
                                ("kernel", .string(precision == .bf16 ? "bf16" : kernel.rawValue)),
                                ("tokens", .int(Int64(tokens))), ("heads", .int(Int64(heads))), ("head_dim", .int(Int64(headDim)))]))
            } else {
                print(String(format: "attention b%d n%d h%d hd%d, %@ on %@, %d thread(s): median %.3f ms, %.1f GFLOP/s (QKᵀ and PV)",
                             batch, tokens, heads, headDim, precision.rawValue, ctx.isa.rawValue, ctx.threadCount, ms, gflops))
            }
        }
    }
}

extension AttentionKernel: ExpressibleByArgument {}
