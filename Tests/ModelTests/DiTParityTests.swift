import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// The DiT forward against the official code's outputs, for every reference pair in the
/// folder (`DYDIT_REFERENCE_DIR`), every kernel build this CPU runs, and 1 and 2 threads.
final class DiTParityTests: XCTestCase {
    static let tolerance: Float = 1e-5

    /// Router tensors of DyDiT checkpoints; the DiT itself ignores them.
    static func isRouter(_ name: String) -> Bool {
        name.contains(".attn_rate.") || name.contains(".mlp_rate.") || name.contains(".token_selection.")
    }

    func testForwardMatchesOfficialCode() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        for pair in pairs {
            let weights = try SafeTensorsFile(path: pair.weights)
            let io = try SafeTensorsFile(path: pair.io)
            let config: DiTConfig
            do { config = try DiTConfig(file: weights) } catch {
                XCTFail("\(pair.name): config cannot be read: \(error)")
                continue
            }
            let isDyDiT = weights.names.contains(where: Self.isRouter)
            let params = try DiTParameters.load(weights, config: config, ignoring: Self.isRouter)
            let x = try io.tensor("x").floats()
            let t = try io.tensor("t").floats()
            let y = try io.tensor("y").integers().map { Int($0) }
            for isa in CPUFeatures.current.supported {
                coverage.ran(isa.rawValue)
                for threads in [1, 2] {
                    let ctx = try ComputeContext(threads: threads, isa: isa)
                    let model = DiT(params, ctx: ctx)
                    let ledger = ReferenceLedger(io, label: "\(pair.name) [\(isa), \(threads)t]")
                    ledger.inputs(["x", "t", "y"])
                    var acts: [String: [Float]] = [:]
                    let out = try model.forward(x: x, t: t, y: y) { name, _, values in acts[name] = Array(values) }
                    if isDyDiT {
                        // All masks off is exactly the DiT on the same weights; the routed keys
                        // are DyDiTParityTests' part.
                        try ledger.check("complete_out", out, tolerance: Self.tolerance)
                        ledger.checkedElsewhere(["out", "attn_masks", "mlp_masks", "token_masks", "token_logits", "tdw/", "flops/"],
                                                by: "DyDiTParityTests")
                    } else {
                        try ledger.check("out", out, tolerance: Self.tolerance)
                        for key in io.names where key.hasPrefix("act/") {
                            guard let got = acts[key] else {
                                XCTFail("\(pair.name): the forward pass records no '\(key)'")
                                continue
                            }
                            try ledger.check(key, got, tolerance: Self.tolerance)
                        }
                    }
                    if io.contains("cfg/out") {
                        let cx = try io.tensor("cfg/x").floats(), ct = try io.tensor("cfg/t").floats()
                        let cy = try io.tensor("cfg/y").integers().map { Int($0) }
                        let scale = try io.tensor("cfg/scale").floats()[0]
                        let guided = try model.forwardWithCFG(x: cx, t: ct, y: cy, scale: scale)
                        try ledger.check("cfg/out", guided, tolerance: Self.tolerance)
                        ledger.inputs(["cfg/x", "cfg/t", "cfg/y", "cfg/scale"])
                    }
                    ledger.checkedElsewhere(["sample/"], by: "DiTSamplerParityTests")
                    ledger.checkedElsewhere(["train/", "grad/"], by: "GradientParityTests")
                    ledger.finish()
                }
            }
        }
    }
}
