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
/// Only seeds 1… are kept: seed 0 is drawn inside the timing rounds, which a resumed run
/// measures again anyway. A saved set is reused only if it was drawn by the same computation:
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
                       "executable \(Self.executableDigest)"].joined(separator: "; ")
    }

    /// The running binary's SHA-256 ("unknown" if it cannot be read: then nothing is reused,
    /// since two unreadable binaries could differ).
    static let executableDigest: String = (try? FileDigest.sha256("/proc/self/exe").sha256) ?? "unknown"

    func path(_ seed: Int) -> String { "\(directory)/seed-\(seed).safetensors" }

    /// Seed `seed`'s samples saved by an identical computation with `count` values, else nil
    /// (missing, damaged, or made by other inputs, code or machine).
    func load(seed: Int, count: Int) -> [Float]? {
        guard Self.executableDigest != "unknown", FileReader.exists(path(seed)), let file = try? SafeTensorsFile(path: path(seed)),
              file.metadata["fingerprint"] == fingerprint, file.metadata["seed"] == String(seed),
              let samples = (try? file.tensor("samples"))?.floats(), samples.count == count else { return nil }
        return samples
    }

    func save(seed: Int, samples: [Float], shape: [Int]) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(directory, "cannot create the folder for the run's finished seeds: \(error.localizedDescription)")
        }
        try SafeTensorsWriter.write([("samples", Tensor(samples, shape: shape))],
                                    metadata: ["fingerprint": fingerprint, "seed": String(seed)], to: path(seed))
    }

    static func directory(_ runDirectory: String) -> String { "\(runDirectory)/.seeds" }

    /// Removes a run's saved seeds (once its metrics are written: the seeds are in them).
    static func clear(runDirectory: String) {
        try? FileManager.default.removeItem(atPath: directory(runDirectory))
    }
}
