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
/// resume (`loadFirstPass`); the timing rounds are always measured again. A seed's pass in
/// progress is saved after each batch (`seed-<s>.partial.safetensors`): a pass stopped
/// part-way resumes from its next batch (each batch draws from its own noise, so the batches
/// before it change nothing — unless a token router's decisions depend on earlier calls, when
/// the runner does not use these). A saved set is reused
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

    /// Saves seed `seed`'s samples, and removes what was saved of its unfinished pass.
    func save(seed: Int, samples: [Float], shape: [Int]) throws {
        try write(seed: seed, [("samples", Tensor(samples, shape: shape))])
        removePartial(seed: seed)
    }

    /// `StepReport`'s fields as the columns of the saved `reports` tensor, in this order.
    static let reportColumns = 9

    /// The run's own pass (seed 0) — its samples, step reports, seconds and slice-build
    /// seconds: everything the run takes from that pass — if an identical computation saved it.
    func loadFirstPass(count: Int) -> SamplingPass? {
        guard let (pass, _) = readPass(path(0), seed: 0), pass.samples.count == count else { return nil }
        return pass
    }

    func saveFirstPass(_ pass: SamplingPass, shape: [Int]) throws {
        try write(seed: 0, [("samples", Tensor(pass.samples, shape: shape)),
                            ("reports", Tensor(Self.table(pass.reports), shape: [pass.reports.count, Self.reportColumns]))],
                  // Doubles print round-trip exact in Swift.
                  extra: ["seconds": "\(pass.seconds)", "preparation_seconds": "\(pass.preparation)"])
        removePartial(seed: 0)
    }

    // MARK: a pass stopped part-way

    /// The file of seed `seed`'s unfinished pass: the batches it has finished.
    func partialPath(_ seed: Int) -> String { "\(directory)/seed-\(seed).partial.safetensors" }

    /// The batches of seed `seed`'s pass that an identical computation finished before it was
    /// stopped — their samples (`imageValues` floats per image), step reports, seconds and
    /// slice-build seconds — and how many; nil if none were saved (or they cannot be used).
    func loadPartial(seed: Int, imageValues: Int) -> (pass: SamplingPass, batches: Int)? {
        guard let (pass, file) = readPass(partialPath(seed), seed: seed), pass.samples.count % imageValues == 0,
              let batches = file.metadata["batches"].flatMap(Int.init), batches > 0 else { return nil }
        return (pass, batches)
    }

    /// A pass saved with its step reports and seconds (seed 0's, or a partial one) by an
    /// identical computation, and its file (for further metadata); nil otherwise.
    private func readPass(_ path: String, seed: Int) -> (SamplingPass, SafeTensorsFile)? {
        // An unreadable binary ("unknown") reuses nothing: two unreadable binaries could differ.
        guard MachineRecord.executableDigest != "unknown", FileReader.exists(path), let file = try? SafeTensorsFile(path: path),
              file.metadata["fingerprint"] == fingerprint, file.metadata["seed"] == String(seed),
              let samples = (try? file.tensor("samples"))?.floats(),
              let table = try? file.tensor("reports"), table.shape.count == 2, table.shape[1] == Self.reportColumns,
              let seconds = file.metadata["seconds"].flatMap(Double.init),
              let preparation = file.metadata["preparation_seconds"].flatMap(Double.init) else { return nil }
        return (SamplingPass(samples: samples, reports: Self.reports(table), seconds: seconds, preparation: preparation), file)
    }

    /// Saves the first `batches` batches of seed `seed`'s pass (replacing what was saved):
    /// called after each batch, so a stopped pass loses at most the batch it was drawing.
    func savePartial(seed: Int, _ pass: SamplingPass, batches: Int, imageShape: [Int]) throws {
        let images = pass.samples.count / imageShape.reduce(1, *)
        try write(seed: seed, [("samples", Tensor(pass.samples, shape: [images] + imageShape)),
                               ("reports", Tensor(Self.table(pass.reports), shape: [pass.reports.count, Self.reportColumns]))],
                  extra: ["batches": String(batches), "seconds": "\(pass.seconds)", "preparation_seconds": "\(pass.preparation)"],
                  to: partialPath(seed))
    }

    /// Removes seed `seed`'s unfinished pass (once the whole seed is saved).
    func removePartial(seed: Int) {
        try? FileManager.default.removeItem(atPath: partialPath(seed))
    }

    private static func table(_ reports: [StepReport]) -> [Double] {
        reports.flatMap { r in
            [Double(r.step), Double(r.steps), Double(r.timestep), r.seconds, r.heads, r.groups, r.tokens, r.flopsRatio, r.macs]
        }
    }

    private static func reports(_ table: Tensor) -> [StepReport] {
        let v = table.doubles(), n = reportColumns
        return (0..<table.shape[0]).map { i in
            StepReport(step: Int(v[i * n]), steps: Int(v[i * n + 1]), timestep: Int(v[i * n + 2]), seconds: v[i * n + 3],
                       heads: v[i * n + 4], groups: v[i * n + 5], tokens: v[i * n + 6], flopsRatio: v[i * n + 7], macs: v[i * n + 8])
        }
    }

    private func write(seed: Int, _ tensors: [(String, Tensor)], extra: [String: String] = [:], to path: String? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(directory, "cannot create the folder for the run's finished seeds: \(error.localizedDescription)")
        }
        try SafeTensorsWriter.write(tensors, metadata: ["fingerprint": fingerprint, "seed": String(seed)].merging(extra) { $1 },
                                    to: path ?? self.path(seed))
    }

    static func directory(_ runDirectory: String) -> String { "\(runDirectory)/.seeds" }

    /// Removes a run's saved seeds (once its metrics are written: the seeds are in them).
    static func clear(runDirectory: String) {
        try? FileManager.default.removeItem(atPath: directory(runDirectory))
    }
}
