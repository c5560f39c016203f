import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels
#if canImport(Glibc)
import Glibc
#endif

/// Options every compute command takes.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads, the calling one included (default: the CPUs online).")
    var threads: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    @Option(help: "Kernel build: portable, avx2 or avx512 (default: DYDIT_ISA, else the best this CPU runs).")
    var isa: String?

    func context() throws -> ComputeContext {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads))") }
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

/// Runs a command body and turns any error into one clear line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ValidationError {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        printError("error: \(error)")
        throw ExitCode(1)
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
