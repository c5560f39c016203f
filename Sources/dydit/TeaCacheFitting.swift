import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import Foundation

/// `dydit sample --fit-teacache`: TeaCache's rescaling polynomial fitted to the model's own
/// uncached trajectories (the official recipe: `np.polyfit(input_change, output_change, 4)`
/// over every step of every trajectory; `ali-vilab/TeaCache` issue #2), written beside the
/// weights with the points it was fitted on and, per threshold, the full steps it would run.
struct TeaCacheFitting {
    let weights: String
    let recorder: TeaCacheRecorder
    /// The sampling settings the trajectories were drawn with (recorded in the file).
    let settings: [(String, JSONValue)]

    static let degree = 4
    static let thresholds = [0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0]

    /// Without --classes: 10 images of every class, class-balanced.
    static func defaultLabels(_ c: DiTConfig) -> [Int] { (0..<(10 * c.numClasses)).map { $0 % c.numClasses } }

    func run() throws {
        let x = recorder.pairs.map(\.x), y = recorder.pairs.map(\.y)
        let coefficients = try PolynomialFit.fit(x: x, y: y, degree: Self.degree)
        let r2 = PolynomialFit.r2(x: x, y: y, coefficients: coefficients)
        let steps = recorder.batchChanges.first?.count ?? 0
        var predicted: [(String, JSONValue)] = []
        var lines: [String] = []
        for threshold in Self.thresholds {
            let policy = try TeaCachePolicy(coefficients: coefficients, threshold: threshold)
            let full = recorder.batchChanges.map { Double(policy.predictedFullSteps(changes: $0)) }
            let mean = full.reduce(0, +) / Double(max(1, full.count))
            predicted.append((String(threshold), .double(mean)))
            lines.append(String(format: "  threshold %.2f: %.1f of %d steps run the model (%.0f%%)", threshold, mean, steps, 100 * mean / Double(max(1, steps))))
        }
        let range = { (v: [Double]) in JSONValue.array([.double(v.min() ?? .nan), .double(v.max() ?? .nan)]) }
        let json = JSONValue.object(JSONObject([
            ("method", .string("teacache")),
            ("coefficients", .array(coefficients.map { .double($0) })),
            ("degree", .int(Int64(Self.degree))),
            ("r2", .double(r2)),
            ("points", .int(Int64(x.count))),
            ("input_change_range", range(x)),
            ("output_change_range", range(y)),
            ("weights", .string((weights as NSString).lastPathComponent)),
            ("weights_sha256", .string(try FileDigest.sha256(weights).sha256)),
            ("settings", .object(JSONObject(settings))),
            ("predicted_full_steps", .object(JSONObject(predicted))),
            ("input_changes", .array(x.map { .double($0) })),
            ("output_changes", .array(y.map { .double($0) })),
        ]))
        let path = TeaCachePolicy.coefficientsPath(weights: weights)
        try AtomicFile.write(json.serialized(pretty: true) + "\n", to: path)
        let listed = coefficients.map { String(format: "%.6g", $0) }.joined(separator: ", ")
        printError(String(format: "TeaCache fit: %d points (relative change of the first block's modulated input → of the model output, per forward sample and step), R² %.3f; coefficients ",
                          x.count, r2) + "[\(listed)]")
        printError("predicted from these (uncached) trajectories; the cached ones drift, so measure:\n" + lines.joined(separator: "\n"))
        printError("wrote \(path): --cache teacache --cache-option threshold=T reads it (with the sampler settings and routers of this fit)")
    }
}
