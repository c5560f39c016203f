import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTPlayground
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Options every compute command takes.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads, the calling one included (default: the CPUs this process may use: affinity mask, cgroup quota, SLURM_CPUS_PER_TASK).")
    var threads: Int?

    @Option(help: "Kernel build: portable, avx2 or avx512 (default: DYDIT_ISA, else the best this CPU runs).")
    var isa: String?

    func context() throws -> ComputeContext {
        // Optional so that the help shows the default's rule once, not also today's value.
        let threads = self.threads ?? CPUBudget.current.count
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads))") }
        let budget = CPUBudget.current
        guard threads <= budget.maxThreads else {
            throw ValidationError("--threads \(threads) is too many: \(budget.limitDescription)")
        }
        var chosen: ISA?
        if let isa {
            guard let parsed = ISA(rawValue: isa.lowercased()) else {
                throw ValidationError("unknown --isa '\(isa)'; valid: \(ISA.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard CPUFeatures.current.supports(parsed) else {
                throw KernelError.unsupportedISA(parsed, source: "--isa", cpu: .current)
            }
            chosen = parsed
        }
        return try ComputeContext(threads: threads, isa: chosen)
    }
}

/// Runs a command body and turns any error into one clear line on stderr and exit code 1
/// (a bad option value included: ArgumentParser would exit 64 for it).
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ValidationError {
        printError("error: \(e.message)")
        throw ExitCode(1)
    } catch let e as ExitCode {
        throw e
    } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

/// Refuses NaN and infinite option values up front (`--cfg nan` parses as a Double and used
/// to give all-NaN samples and exit 0).
func requireFinite(_ options: [(name: String, value: Double)]) throws {
    for (name, value) in options where !value.isFinite {
        throw ValidationError("\(name) \(value) is not a finite number")
    }
}

func printError(_ message: String, newline: Bool = true) {
    var text = message + (newline ? "\n" : "")
    text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
}

/// Keys and values of a one-line JSON report.
func jsonLine(_ pairs: [(String, JSONValue)]) -> String {
    JSONValue.object(JSONObject(pairs)).serialized()
}

extension GuidanceChannels: ExpressibleByArgument {}

extension WeightPrecision: ExpressibleByArgument {}

extension Int8ActivationScheme: ExpressibleByArgument {}

/// `--shard i/n` or `--shard auto` of `dydit run` and `dydit train` (see `Shard`); nil means every run.
func parseShard(_ shard: String?) throws -> Shard {
    do {
        let parsed = try Shard.parse(shard, environment: ProcessInfo.processInfo.environment)
        if let origin = parsed.origin { printError("shard \(parsed): \(origin)") }
        return parsed
    } catch let error as ShardError {
        throw ValidationError(error.message)
    }
}
