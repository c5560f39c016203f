import DyDiTIO
import Foundation

/// The files `dydit train` writes into a training folder, for cleaning up after a run that
/// was killed (temporary files) or is started over (`--restart`), or whose newest outputs
/// ran ahead of its last checkpoint.
enum TrainingOutputs {
    /// Whether a training run writes a file of this name in the training folder.
    static func owns(_ name: String) -> Bool {
        ["checkpoint.safetensors", "ema.safetensors", "train.csv", "samples.png", "spec.json", "log.txt"].contains(name)
            || step(of: name, prefix: "samples-step-", suffix: ".png") != nil
    }

    /// The temporary files of writes a killed run left in the folder and its `snapshots/`.
    /// Only the training's own files: a spec without a sweep trains in the folder `dydit run`
    /// writes its summary into.
    static func removeLeftovers(in directory: String) -> [String] {
        AtomicFile.removeLeftovers(in: directory, owned: owns)
            + AtomicFile.removeLeftovers(in: "\(directory)/snapshots").map { "snapshots/\($0)" }
    }

    /// Deletes the step grids and EMA snapshots of steps after `step`, and with `step` nil also
    /// every export (`ema.safetensors`, `samples.png`, all grids and snapshots).
    static func removeExports(in directory: String, after step: Int?) throws {
        var doomed: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names {
            if let s = Self.step(of: name, prefix: "samples-step-", suffix: ".png"), s > (step ?? -1) { doomed.append("\(directory)/\(name)") }
        }
        let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/snapshots")) ?? []
        for name in snapshots {
            if let s = Self.step(of: name, prefix: "ema-step-", suffix: ".safetensors"), s > (step ?? -1) {
                doomed.append("\(directory)/snapshots/\(name)")
            }
        }
        if step == nil { doomed += ["ema.safetensors", "samples.png"].map { "\(directory)/\($0)" }.filter(FileReader.exists) }
        for path in doomed {
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw IOError(path, "cannot remove an output of an earlier run: \(error.localizedDescription)")
            }
        }
    }

    /// The step number of `samples-step-0001000.png`-like names.
    static func step(of name: String, prefix: String, suffix: String) -> Int? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        return digits.isEmpty || !digits.allSatisfy(\.isNumber) ? nil : Int(digits)
    }
}
