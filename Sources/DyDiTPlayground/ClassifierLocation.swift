import DyDiTIO
import Foundation

/// Where a spec finds the Fashion-MNIST classifier when `eval.classifier` is not given: the
/// shipped `Experiments/checkpoints/fashion-mnist-classifier.safetensors` of the repository
/// the spec lives in, written relative to the spec's folder (resolved specs identify runs, so
/// they must not depend on where the clone is).
public enum ClassifierLocation {
    static let file = "checkpoints/fashion-mnist-classifier.safetensors"

    public static func defaultPath(specDirectory: String) -> String {
        let start = URL(fileURLWithPath: specDirectory.isEmpty ? "." : specDirectory).standardizedFileURL
        // A spec in Experiments/ itself.
        if FileReader.exists(start.appendingPathComponent(file).path) { return file }
        // Elsewhere in the repository (Notebooks/, a sub-folder): up to the folder holding Experiments/.
        var dir = start, up = ""
        for _ in 0..<8 {
            if FileReader.exists(dir.appendingPathComponent("Experiments/\(file)").path) { return up + "Experiments/\(file)" }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
            up += "../"
        }
        return file
    }
}
