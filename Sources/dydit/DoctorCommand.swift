import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTPlayground
import DyDiTTraining
import Foundation

/// `dydit doctor`: what a bug report needs about this machine and build, in one place.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Describe this machine and build: version and commit, CPU and instruction sets, the kernel build chosen, CPU and memory limits, the fp32 peak, library versions, data present.",
        discussion: "Paste its output (or --json) into a bug report. The peak takes about a second; --no-peak skips it.")

    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(inversion: .prefixedNo, help: "Measure the fp32 peak (about a second).") var peak = true
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            let ctx = try compute.context()
            let cpu = CPUFeatures.current
            let git = MachineRecord.git
            let cpus = CPUBudget.current, memory = MemoryBudget.current
            let dataset = ImageDataset.fashionMNISTDirectory
            // The files the dataset plug-in itself would read, per split (images and labels).
            let datasetFiles = ["train", "test"].flatMap { split in
                (try? FashionMNISTDataset.files(DatasetChoice(type: FashionMNISTDataset.name, path: dataset, split: split))) ?? []
            }
            let classifier = ClassifierLocation.defaultPath(specDirectory: ".")
            let peakValue = peak ? peakGFLOPs(ctx) : nil
            let features: [(String, Bool)] = [("avx2", cpu.avx2), ("fma", cpu.fma), ("f16c", cpu.f16c), ("avx512f", cpu.avx512f),
                                              ("avx512bw", cpu.avx512bw), ("avx512vl", cpu.avx512vl), ("avx512dq", cpu.avx512dq),
                                              ("avx512_vnni", cpu.avx512vnni), ("avx_vnni", cpu.avxvnni), ("avx512_bf16", cpu.avx512bf16),
                                              ("amx_bf16", cpu.amxBF16), ("amx_int8", cpu.amxInt8)]
            let bf16Path = BF16Path.best(for: ctx.isa, cpu: cpu)
            let isaSource = compute.isa != nil ? "--isa" : ProcessInfo.processInfo.environment["DYDIT_ISA"] != nil ? "DYDIT_ISA" : "the best this CPU runs"
            if json {
                print(jsonLine([
                    ("dydit_version", .string(DyDiTVersion.string)),
                    ("git_commit", git.commit.map { .string($0) } ?? .null), ("git_dirty", git.dirty.map { .bool($0) } ?? .null),
                    ("git_source", .string(git.source)),
                    ("cpu", .string(MachineRecord.cpuModel)),
                    ("cpu_features", .object(JSONObject(features.map { ($0.0, .bool($0.1)) }))),
                    ("isa_builds", .array(ISA.allCases.map { .string($0.rawValue) })),
                    ("isa_supported", .array(cpu.supported.map { .string($0.rawValue) })),
                    ("isa_chosen", .string(ctx.isa.rawValue)), ("isa_chosen_by", .string(isaSource)),
                    ("int8_path", .string(ctx.int8Path.rawValue)), ("bf16_path", .string(bf16Path.rawValue)),
                    ("cores_online", .int(Int64(ProcessInfo.processInfo.activeProcessorCount))),
                    ("cpu_budget", .int(Int64(cpus.count))), ("cpu_budget_explanation", .string(cpus.explanation)),
                    ("threads", .int(Int64(ctx.threadCount))),
                    ("memory_bytes", .int(Int64(memory.bytes))), ("memory_explanation", .string(memory.explanation)),
                    ("load_average", MachineRecord.loadAverage().map { .array($0.map { .double($0) }) } ?? .null),
                    ("peak_gflops", peakValue.map { .double($0) } ?? .null),
                    ("libraries", .object(JSONObject(LibraryVersions.all.map { ($0.name, .string($0.version)) }))),
                    ("fashion_mnist", .object(JSONObject([("path", .string(dataset)),
                                                          ("files_found", .int(Int64(datasetFiles.count))), ("files_expected", .int(4))]))),
                    ("classifier", .object(JSONObject([("path", .string(classifier)), ("found", .bool(FileReader.exists(classifier)))]))),
                ]))
                return
            }
            let commit = git.commit.map { "commit \($0.prefix(12))\(git.dirty == true ? " + uncommitted changes" : "")" } ?? "commit unknown"
            print("dydit \(DyDiTVersion.string), \(commit) (\(git.source))")
            print("CPU: \(MachineRecord.cpuModel); \(ProcessInfo.processInfo.activeProcessorCount) core(s) online")
            print("features: " + features.map { "\($0.0) \($0.1 ? "yes" : "no")" }.joined(separator: ", "))
            print("kernel builds: " + ISA.allCases.map { "\($0.rawValue) \(cpu.supports($0) ? "runs" : "needs \($0.requirement)")" }.joined(separator: "; ")
                  + "; chosen: \(ctx.isa.rawValue) (\(isaSource)); int8 products on \(ctx.int8Path.rawValue), bf16 on \(bf16Path.rawValue)"
                  + (cpu.amxBF16 || cpu.amxInt8 ? " (AMX granted by the kernel; DYDIT_NO_AMX=1 declines it)" : ""))
            print("CPUs this process may use: \(cpus.count) (\(cpus.explanation)); threads: \(ctx.threadCount)")
            print("memory: \(formatBytes(Double(memory.bytes))) (\(memory.explanation))")
            if let load = MachineRecord.loadAverage() { print(String(format: "load average: %.2f %.2f %.2f", load[0], load[1], load[2])) }
            if let peakValue {
                print(String(format: "fp32 peak: %.1f GFLOP/s on %d thread(s) (%@)", peakValue, ctx.threadCount, ctx.isa.rawValue))
            }
            print("libraries: " + LibraryVersions.all.map { "\($0.name) \($0.version)" }.joined(separator: ", "))
            print("Fashion-MNIST: \(dataset): \(datasetFiles.count) of 4 files"
                  + (datasetFiles.count == 4 ? "" : " (install with: sudo apt-get install dataset-fashion-mnist)"))
            print("classifier: \(classifier): \(FileReader.exists(classifier) ? "found" : "missing (run from the repository root, or `dydit classifier train`)")")
        }
    }
}
