import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// DyDiT's masked reference path against the official code, for every DyDiT pair in the
/// reference folder (`DYDIT_REFERENCE_DIR`): outputs, router decisions for the batch and for
/// all 1000 timesteps, and the per-block FLOPs constants.
final class DyDiTParityTests: XCTestCase {
    static let tolerance: Float = 1e-5
    /// A decision may legitimately differ where the logit is this close to 0 (rounding).
    static let logitMargin: Float = 1e-4

    /// Masks equal wherever |logit| ≥ margin; prints and returns the number of near-zero flips.
    @discardableResult
    func checkMasks(_ label: String, _ got: [Float], _ want: [Float], logitAt: (Int) -> Float?,
                    line: UInt = #line) -> Int {
        XCTAssertEqual(got.count, want.count, "\(label): count", line: line)
        var flips = 0
        for i in 0..<min(got.count, want.count) where got[i] != want[i] {
            if let l = logitAt(i), abs(l) < Self.logitMargin { flips += 1; continue }
            XCTFail("\(label): element \(i) is \(got[i]), reference \(want[i]) (logit \(logitAt(i).map { "\($0)" } ?? "n/a"))", line: line)
            return flips
        }
        print("\(label) masks equal (\(want.count) decisions, \(flips) flips at |logit| < \(Self.logitMargin))")
        return flips
    }

    func testMaskedPathMatchesOfficialCode() throws {
        let pairs = try ReferenceVectors.pairs().filter {
            try SafeTensorsFile(path: $0.weights).names.contains(where: Checkpoint.isRouterTensor)
        }
        // A folder of DiT pairs alone is valid (the DiT tests fail on an empty one): skipped, and said so.
        XCTAssertFalse(try ReferenceVectors.pairs().isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        if pairs.isEmpty { throw XCTSkip("no DyDiT reference pairs in \(ReferenceVectors.directory)") }
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for pair in pairs {
            let ckpt = try Checkpoint(path: pair.weights)
            let io = try SafeTensorsFile(path: pair.io)
            let c = ckpt.config
            let routers = try XCTUnwrap(ckpt.routers)
            let x = try io.tensor("x").floats(), t = try io.tensor("t").floats()
            let y = try io.tensor("y").integers().map { Int($0) }
            for isa in CPUFeatures.current.supported {
                coverage.ran(isa.rawValue)
                let ctx = try ComputeContext(threads: 2, isa: isa)
                let model = DiT(ckpt.parameters, ctx: ctx)
                let ledger = ReferenceLedger(io, label: "\(pair.name) [\(isa)]")
                ledger.inputs(["x", "t", "y"])
                let width = LearnedWidthRouter(routers, isa: isa), token = LearnedTokenRouter(routers)
                let record = RoutingRecord(batch: t.count, config: c, routerOutputs: width.outputs)
                let out = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: token, fast: false), record: record)
                try ledger.check("out", out, tolerance: Self.tolerance)
                // The fast path (sliced weights, gathered tokens) against the same reference.
                let fast = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: token, fast: true))
                let fastError = relativeError(fast, try io.tensor("out").floats())
                print("\(pair.name) [\(isa)] out (fast path) max|a-b|/max|b| = \(fastError)")
                XCTAssertLessThanOrEqual(fastError, Self.tolerance, "\(pair.name) [\(isa)] fast path")
                try ledger.check("complete_out", try model.forward(x: x, t: t, y: y), tolerance: Self.tolerance)
                try ledger.check("token_logits", record.tokenLogits, tolerance: Self.tolerance)
                let tokenLogits = try io.tensor("token_logits").floats()
                checkMasks("\(pair.name) [\(isa)] token_masks", record.tokenMasks, try io.tensor("token_masks").floats()) { tokenLogits[$0] }
                ledger.inputs(["token_masks"])

                // Width decisions for every timestep 0…999, and the batch's rows of them.
                let all = (0..<1000).map(Float.init)
                let te = model.timestepEmbeddings(all)
                let nh = c.numHeads, r = width.outputs
                var attn = [Float](repeating: 0, count: 1000 * c.depth * nh), mlp = attn
                var attnLogits = [Float](repeating: 0, count: 1000 * c.depth * r), mlpLogits = attnLogits
                te.withUnsafeBufferPointer { tp in
                    attn.withUnsafeMutableBufferPointer { a in mlp.withUnsafeMutableBufferPointer { m in
                        attnLogits.withUnsafeMutableBufferPointer { al in mlpLogits.withUnsafeMutableBufferPointer { ml in
                            width.decide(te: tp.baseAddress!, t: all, attn: a.baseAddress!, mlp: m.baseAddress!,
                                         logits: (al.baseAddress!, ml.baseAddress!), ctx: ctx)
                        } }
                    } }
                }
                try ledger.check("tdw/attn_logits_all_t", attnLogits, tolerance: Self.tolerance)
                try ledger.check("tdw/mlp_logits_all_t", mlpLogits, tolerance: Self.tolerance)
                let refAttnLogits = try io.tensor("tdw/attn_logits_all_t").floats()
                let refMLPLogits = try io.tensor("tdw/mlp_logits_all_t").floats()
                // Column k of a mask row (k ≥ forced units) comes from logit k − forced.
                let forced = nh - r
                func logit(_ logits: [Float]) -> (Int) -> Float? {
                    { i in let k = i % nh; return k < forced ? nil : logits[(i / nh) * r + k - forced] }
                }
                checkMasks("\(pair.name) [\(isa)] tdw/attn_masks_all_t", attn, try io.tensor("tdw/attn_masks_all_t").floats(), logitAt: logit(refAttnLogits))
                checkMasks("\(pair.name) [\(isa)] tdw/mlp_masks_all_t", mlp, try io.tensor("tdw/mlp_masks_all_t").floats(), logitAt: logit(refMLPLogits))
                let batchLogits = { (all: [Float]) -> [Float] in t.flatMap { tb in Array(all[(Int(tb) * c.depth * r)..<((Int(tb) + 1) * c.depth * r)]) } }
                checkMasks("\(pair.name) [\(isa)] attn_masks", record.attnMasks, try io.tensor("attn_masks").floats(), logitAt: logit(batchLogits(refAttnLogits)))
                checkMasks("\(pair.name) [\(isa)] mlp_masks", record.mlpMasks, try io.tensor("mlp_masks").floats(), logitAt: logit(batchLogits(refMLPLogits)))
                ledger.inputs(["attn_masks", "mlp_masks", "tdw/attn_masks_all_t", "tdw/mlp_masks_all_t"])

                // The static per-block costs the FLOPs loss divides by, in GMACs.
                let attnCost = try io.tensor("flops/attn_per_block").doubles()[0]
                let mlpCost = try io.tensor("flops/mlp_per_block").doubles()[0]
                assertClose(MACs.attentionPerBlock(c) / 1e9, attnCost, absolute: 1e-12, relative: 1e-9, "attention GMACs per block")
                assertClose(MACs.mlpPerBlock(c) / 1e9, mlpCost, absolute: 1e-12, relative: 1e-9, "MLP GMACs per block")
                print("\(pair.name) [\(isa)] flops per block: attention \(attnCost) GMACs, mlp \(mlpCost) GMACs: equal")
                ledger.inputs(["flops/attn_per_block", "flops/mlp_per_block"])
                ledger.checkedElsewhere(["train/", "grad/"], by: "GradientParityTests")
                ledger.checkedElsewhere(["sample/"], by: "DiTSamplerParityTests")
                ledger.finish()
            }
        }
    }
}
