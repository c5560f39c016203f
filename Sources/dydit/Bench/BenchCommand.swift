import ArgumentParser
import DyDiTModels

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: medians after warm-up, one JSON object with --json.",
        subcommands: [BenchGemm.self, BenchForward.self, BenchAttention.self, BenchTrain.self, BenchPeak.self, BenchMetrics.self])
}

/// The model a bench command times, checked as the command line gave it: a named DiT at the
/// data's sizes, and a batch of at least one.
func benchModel(_ name: String, inputSize: Int, inChannels: Int, numClasses: Int, batch: Int) throws -> DiTConfig {
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    let config = try DiTConfig.named(name, inputSize: inputSize, inChannels: inChannels, numClasses: numClasses)
    if let problem = config.problems().first { throw ValidationError(problem) }
    return config
}

/// Warm-up and timed repetitions shared by the benchmarks.
struct RepetitionOptions: ParsableArguments {
    @Option(help: "Untimed runs first (caches, page faults, thread start-up).")
    var warmup: Int = 3

    @Option(help: "Timed runs; the median is reported.")
    var iters: Int = 20

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
        guard iters >= 1 else { throw ValidationError("--iters must be at least 1") }
    }

    /// Milliseconds of each timed run of `body`.
    func measure(_ body: () throws -> Void) rethrows -> [Double] {
        for _ in 0..<warmup { try body() }
        let clock = ContinuousClock()
        return try (0..<iters).map { _ in
            let elapsed = try clock.measure(body)
            return Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
        }
    }
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
