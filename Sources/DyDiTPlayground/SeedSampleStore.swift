import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The quality seeds' sample sets of a run in progress, each saved as soon as it is drawn
/// (`<run>/.seeds/seed-<s>.safetensors`), so that a run stopped during its extra seeds — a
/// killed session, Ctrl-C, a full disk — resumes from the seeds it had drawn instead of
/// sampling them again: at 5000 images a seed costs minutes to tens of minutes.
///
/// Seed 0, the run's own pass over every image, is kept too with what the run reports from it
/// (every step's `StepReport`, the slice-build seconds) where the runner can skip that pass on
/// resume (`loadFirstPass`); the timing rounds are always measured again. A saved set is reused
/// only if it was drawn by the same computation:
/// the run's key (the resolved spec and the SHA-256 of every input file), the ISA build and
/// thread count, the CPU's kernel paths (AMX or not) and the executable's own SHA-256 (other
/// code may round differently). Outputs are bit-identical under those, so a resumed run's
/// numbers equal an uninterrupted one's. The folder goes once the run's metrics are written.
struct SeedSampleStore {
    let directory: String
    /// Everything the saved samples' bits depend on, as one string stored in each file.
    let fingerprint: String

    init(runDirectory: String, key: RunKey, isa: ISA, threads: Int) {
        directory = Self.directory(runDirectory)
        let cpu = CPUFeatures.current
        fingerprint = ["key \(key.digest)", "isa \(isa.rawValue)", "threads \(threads)",
                       "amx bf16 \(cpu.amxBF16) int8 \(cpu.amxInt8)", "avx512bf16 \(cpu.avx512bf16)",
                       "executable \(MachineRecord.executableDigest)"].joined(separator: "; ")
    }

    func path(_ seed: Int) -> String { "\(directory)/seed-\(seed).safetensors" }

    /// Seed `seed`'s samples saved by an identical computation with `count` values, else nil
    /// (missing, damaged, or made by other inputs, code or machine).
    func load(seed: Int, count: Int) -> [Float]? {
        // An unreadable binary ("unknown") reuses nothing: two unreadable binaries could differ.
        guard MachineRecord.executableDigest != "unknown", FileReader.exists(path(seed)), let file = try? SafeTensorsFile(path: path(seed)),
              file.metadata["fingerprint"] == fingerprint, file.metadata["seed"] == String(seed),
              let samples = (try? file.tensor("samples"))?.floats(), samples.count == count else { return nil }
        return samples
    }

    func save(seed: Int, samples: [Float], shape: [Int]) throws {
        try write(seed: seed, [("samples", Tensor(samples, shape: shape))])
    }

    /// `StepReport`'s fields as the columns of the saved `reports` tensor, in this order.
    static let reportColumns = 9

    /// The run's own pass (seed 0) — its samples, step reports, seconds and slice-build
    /// seconds: everything the run takes from that pass — if an identical computation saved it.
    func loadFirstPass(count: Int) -> SamplingPass? {
        guard let samples = load(seed: 0, count: count), let file = try? SafeTensorsFile(path: path(0)),
              let table = try? file.tensor("reports"), table.shape.count == 2, table.shape[1] == Self.reportColumns,
              let seconds = file.metadata["seconds"].flatMap(Double.init),
              let preparation = file.metadata["preparation_seconds"].flatMap(Double.init) else { return nil }
        let v = table.doubles(), n = Self.reportColumns
        let reports = (0..<table.shape[0]).map { i in
            StepReport(step: Int(v[i * n]), steps: Int(v[i * n + 1]), timestep: Int(v[i * n + 2]), seconds: v[i * n + 3],
                       heads: v[i * n + 4], groups: v[i * n + 5], tokens: v[i * n + 6], flopsRatio: v[i * n + 7], macs: v[i * n + 8])
        }
        return SamplingPass(samples: samples, reports: reports, seconds: seconds, preparation: preparation)
    }

    func saveFirstPass(_ pass: SamplingPass, shape: [Int]) throws {
        let table = pass.reports.flatMap { r in
            [Double(r.step), Double(r.steps), Double(r.timestep), r.seconds, r.heads, r.groups, r.tokens, r.flopsRatio, r.macs]
        }
        try write(seed: 0, [("samples", Tensor(pass.samples, shape: shape)),
                            ("reports", Tensor(table, shape: [pass.reports.count, Self.reportColumns]))],
                  // Doubles print round-trip exact in Swift.
                  extra: ["seconds": "\(pass.seconds)", "preparation_seconds": "\(pass.preparation)"])
    }

    private func write(seed: Int, _ tensors: [(String, Tensor)], extra: [String: String] = [:]) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(directory, "cannot create the folder for the run's finished seeds: \(error.localizedDescription)")
        }
        try SafeTensorsWriter.write(tensors, metadata: ["fingerprint": fingerprint, "seed": String(seed)].merging(extra) { $1 },
                                    to: path(seed))
    }

    static func directory(_ runDirectory: String) -> String { "\(runDirectory)/.seeds" }

    /// Removes a run's saved seeds (once its metrics are written: the seeds are in them).
    static func clear(runDirectory: String) {
        try? FileManager.default.removeItem(atPath: directory(runDirectory))
    }
}
