import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// One training step against the official code, for every reference pair in the folder
/// (`DYDIT_REFERENCE_DIR`): the losses and the gradient of every parameter. DyDiT runs with
/// the recorded logistic noise, so its router decisions are the reference's.
final class GradientParityTests: XCTestCase {
    static let tolerance: Float = 1e-4

    func testTrainingStepMatchesOfficialCode() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        var checked = 0
        for pair in pairs {
            let io = try SafeTensorsFile(path: pair.io)
            guard io.contains("train/x0") else {
                XCTFail("\(pair.name): no train/* batch in \(pair.io)")
                continue
            }
            let ckpt: Checkpoint
            do { ckpt = try Checkpoint(path: pair.weights) } catch {
                XCTFail("\(pair.name): weights cannot be read: \(error)")
                continue
            }
            let c = ckpt.config
            let (x0, noise, t, y) = try ReferenceTrainingBatch(io).fields
            let objective = TrainingObjective(loss: try HybridLoss(learnSigma: c.learnSigma))
            for isa in CPUFeatures.current.supported {
                coverage.ran(isa.rawValue)
                for threads in [1, 2] {
                    let ctx = try ComputeContext(threads: threads, isa: isa)
                    let model = try TrainableDiT(ckpt.parameters, routers: ckpt.routers, ctx: ctx)
                    let label = "\(pair.name) [\(isa), \(threads)t]"
                    let ledger = ReferenceLedger(io, label: label)
                    ledger.inputs(["train/x0", "train/t", "train/noise", "train/y"])
                    let losses: TrainingLosses
                    if ckpt.isDyDiT {
                        let lambda = try io.tensor("train/lambda").doubles()[0]
                        let calls = io.names.filter { $0.hasPrefix("train/logistic_noise/") }.sorted()
                        let recorded = try calls.map { try io.tensor($0).floats() }
                        var used = 0
                        losses = objective.accumulate(model: model, x0: x0, t: t, noise: noise, y: y, routerNoise: { call, out in
                            precondition(call < recorded.count && recorded[call].count == out.count,
                                         "router call \(call) wants \(out.count) noise values; the reference recorded \(call < recorded.count ? recorded[call].count : 0)")
                            _ = out.initialize(from: recorded[call])
                            used = max(used, call + 1)
                        }, lambda: lambda, completeModel: true, keepMasks: true)
                        XCTAssertEqual(used, recorded.count, "\(label): router calls")
                        ledger.inputs(["train/lambda"] + calls)
                        let masks = try XCTUnwrap(losses.masks)
                        try ledger.check("train/attn_masks", masks.attention, tolerance: 0)
                        try ledger.check("train/mlp_masks", masks.mlp, tolerance: 0)
                        try ledger.check("train/token_masks", masks.token, tolerance: 0)
                        try ledger.check("train/flops_ratio", [Float(losses.flopsRatio!)], tolerance: 1e-6)
                        try ledger.check("train/flops_loss", [Float(losses.flops!)], tolerance: Self.tolerance)
                        try ledger.check("train/diffusion_loss", [Float(losses.diffusion)], tolerance: Self.tolerance)
                        try ledger.check("train/complete_loss", [Float(losses.complete!)], tolerance: Self.tolerance)
                        try ledger.check("train/total_loss", [Float(losses.total)], tolerance: Self.tolerance)
                    } else {
                        losses = objective.accumulate(model: model, x0: x0, t: t, noise: noise, y: y)
                        try ledger.check("train/loss", [Float(losses.diffusion)], tolerance: Self.tolerance)
                        try ledger.check("train/loss_per_sample", losses.perSample.map { Float($0) }, tolerance: Self.tolerance)
                        try ledger.check("train/mse", losses.mse.map { Float($0) }, tolerance: Self.tolerance)
                        if c.learnSigma { try ledger.check("train/vb", losses.vb.map { Float($0) }, tolerance: Self.tolerance) }
                    }
                    let gradNames = io.names.filter { $0.hasPrefix("grad/") }
                    XCTAssertFalse(gradNames.isEmpty, "\(label): no grad/* tensors")
                    for key in gradNames {
                        let name = String(key.dropFirst("grad/".count))
                        guard model.gradients.contains(name) else {
                            XCTFail("\(label): the reference has a gradient for '\(name)', which the model does not train")
                            continue
                        }
                        try ledger.check(key, model.gradients[name], tolerance: Self.tolerance)
                    }
                    if c.learnSigma { try checkFinalLayerSlices(model, io, c, label) }
                    // Every trainable parameter has its reference gradient.
                    for e in model.gradients.entries where e.trainable && !io.contains("grad/" + e.name) {
                        XCTFail("\(label): no reference gradient for '\(e.name)'")
                    }
                    ledger.checkedElsewhere(["x", "t", "y", "out", "act/", "cfg/", "complete_out", "attn_masks", "mlp_masks",
                                             "token_masks", "token_logits", "tdw/", "flops/"], by: "DiTParityTests/DyDiTParityTests")
                    ledger.checkedElsewhere(["sample/"], by: "DiTSamplerParityTests")
                    ledger.finish()
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    /// With learn_sigma the final linear layer's rows are `(pq, pk, channel)` with the
    /// channel fastest (METHOD.md, unpatchify): channels `0..<C` predict eps, `C..<2C` the
    /// variance interpolation `v`, whose gradient (through the VLB term alone) is ~1e-5 of the
    /// eps rows'. Against the whole tensor's maximum a wrong variance gradient would pass the
    /// 1e-4 tolerance, so each slice is held against its own scale.
    func checkFinalLayerSlices(_ model: TrainableDiT, _ io: SafeTensorsFile, _ c: DiTConfig, _ label: String) throws {
        let channels = c.inChannels, outC = c.outChannels, d = c.hiddenSize
        for name in ["final_layer.linear.weight", "final_layer.linear.bias"] {
            let got = model.gradients[name], want = try io.tensor("grad/" + name).floats()
            let width = name.hasSuffix(".weight") ? d : 1
            let rows = want.count / width
            XCTAssertEqual(rows, c.patchSize * c.patchSize * outC, "\(label) \(name): rows")
            for (slice, range) in [("eps", 0..<channels), ("variance", channels..<outC)] {
                let picked = (0..<rows).filter { range.contains($0 % outC) }
                    .flatMap { ($0 * width)..<(($0 + 1) * width) }
                let g = picked.map { got[$0] }, w = picked.map { want[$0] }
                let scale = w.reduce(0) { max($0, abs($1)) }
                XCTAssertGreaterThan(scale, 0, "\(label) \(name) \(slice) rows: the reference gradient is zero")
                let err = assertClose(g, w, tolerance: Double(Self.tolerance), "\(label) grad/\(name), \(slice) rows against their own scale")
                print(String(format: "%@ grad/%@ %@ rows (max |g| %.2e): max|a-b|/max|b| = %.3e", label, name, slice, Double(scale), err))
            }
        }
    }
}

/// The recorded training batch of a reference pair (`train/x0`, `train/noise`, `train/t`,
/// `train/y`), as the training step's inputs.
struct ReferenceTrainingBatch {
    let x0: [Float], noise: [Float], t: [Int], y: [Int]

    init(_ io: SafeTensorsFile) throws {
        x0 = try io.tensor("train/x0").floats()
        noise = try io.tensor("train/noise").floats()
        t = try io.tensor("train/t").integers().map { Int($0) }
        y = try io.tensor("train/y").integers().map { Int($0) }
    }

    var fields: (x0: [Float], noise: [Float], t: [Int], y: [Int]) { (x0, noise, t, y) }
}
