import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation
import ReferenceSupport
import XCTest

/// ToMe against tomesd (cases made by `scripts/reference/make_tome_cases.py`): the matching,
/// merge and unmerge round trip on every case; then the merged forward pass: ratio 0 is the
/// dense block up to the attention's summation order, a positive ratio changes the output but
/// only within what merging near-duplicate tokens allows, and bad settings are named.
final class TokenMergingTests: XCTestCase {
    func testRoundTripMatchesTomesd() throws {
        let files = try ReferenceVectors.files(prefix: "tome")
        XCTAssertFalse(files.isEmpty, "no tome*.safetensors in \(ReferenceVectors.extraDirectory)")
        var cases = 0
        for path in files {
            let file = try SafeTensorsFile(path: path)
            for (name, text) in file.metadata.sorted(by: { $0.key < $1.key }) where name != "generator" {
                let meta = try XCTUnwrap(try JSONParser.parse(text).objectValue)
                let side = Int(try XCTUnwrap(meta["side"]?.intValue)), kept = Int(try XCTUnwrap(meta["kept"]?.intValue))
                let metricTensor = try file.tensor("\(name)/metric"), xTensor = try file.tensor("\(name)/x")
                let (batch, n, cm) = (metricTensor.shape[0], metricTensor.shape[1], metricTensor.shape[2])
                let cx = xTensor.shape[2]
                var c = DiTConfig(inputSize: 2 * side, patchSize: 2, inChannels: 1, hiddenSize: cm, depth: 1, numHeads: 1, numClasses: 2)
                c.learnSigma = false
                XCTAssertEqual(c.tokens, n)
                let merging = TokenMerging(ratio: try XCTUnwrap(meta["ratio"]?.doubleValue), sx: Int(try XCTUnwrap(meta["sx"]?.intValue)),
                                           sy: Int(try XCTUnwrap(meta["sy"]?.intValue)), random: false)
                XCTAssertNil(merging.problem(for: c))
                let plan = TokenMergePlan(config: c, merging: merging)
                XCTAssertEqual(plan.kept, kept, name)
                let metric = metricTensor.floats(), x = xTensor.floats()
                var merged = [Float](repeating: .nan, count: batch * kept * cx)
                var back = [Float](repeating: .nan, count: batch * n * cx)
                let ctx = try ComputeContext(threads: 2)
                metric.withUnsafeBufferPointer { plan.match(metric: $0.baseAddress!, batch: batch, block: 0, timestep: 0, ctx: ctx) }
                x.withUnsafeBufferPointer { xp in merged.withUnsafeMutableBufferPointer { plan.merge(xp.baseAddress!, into: $0.baseAddress!, d: cx, ctx: ctx) } }
                merged.withUnsafeBufferPointer { mp in back.withUnsafeMutableBufferPointer { plan.unmerge(mp.baseAddress!, into: $0.baseAddress!, d: cx, ctx: ctx) } }
                let want = try file.tensor("\(name)/roundtrip").floats()
                XCTAssertEqual(back.count, want.count)
                let worst = zip(back, want).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertTrue(worst <= 1e-6, "\(name): max |ours − tomesd| = \(worst) (NaN: a token left unwritten)")
                cases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 4)
    }

    var config: DiTConfig {
        var c = DiTConfig(inputSize: 16, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 4)
        c.learnSigma = false
        return c
    }

    func forward(_ model: DiT, _ merging: TokenMerging?) -> [Float] {
        let c = model.config
        var rng = RandomGenerator(seed: 4)
        let x = rng.normals(2 * c.imageSize)
        var out = [Float](repeating: 0, count: 2 * c.outChannels * c.inputSize * c.inputSize)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer {
                model.forward(x: xp.baseAddress!, t: [300, 300], y: [1, 2], out: $0.baseAddress!, merging: merging)
            }
        }
        return out
    }

    func testMergedForward() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 3, .random), ctx: try ComputeContext(threads: 2))
        let dense = forward(model, nil)
        // Ratio 0 merges nothing: the plain block (tomesd returns the identity for r = 0).
        XCTAssertEqual(forward(model, TokenMerging(ratio: 0, mlp: true)), dense)
        XCTAssertEqual(TokenMerging(ratio: 0, mlp: true).blockMACs(c), MACs(c).blocks)
        // Ratio 0.01 of 64 tokens also merges none (r = ⌊0.64⌋).
        XCTAssertEqual(forward(model, TokenMerging(ratio: 0.01)), dense)
        for merging in [TokenMerging(ratio: 0.5), TokenMerging(ratio: 0.5, mlp: true), TokenMerging(ratio: 0.7, attention: false, mlp: true, random: false)] {
            let merged = forward(model, merging)
            XCTAssertTrue(merged.allSatisfy(\.isFinite), "\(merging)")
            XCTAssertNotEqual(merged, dense, "\(merging): tokens were merged")
            // The same settings, step and seed: the same draw, the same output.
            XCTAssertEqual(forward(model, merging), merged)
        }
        // Counts: half the tokens in attention (ratio 0.5 of 64), the MLP untouched.
        let half = TokenMerging(ratio: 0.5)
        XCTAssertEqual(half.removed(c), 32)
        let n = 64.0, kept = 32.0, d = 32.0, dst = 16.0
        XCTAssertEqual(half.blockMACs(c), 2 * (kept * d * 4 * d + 2 * kept * kept * d + MACs.mlpPerBlock(c) + (n - dst) * dst * d))
        XCTAssertLessThan(half.blockMACs(c), MACs(c).blocks)
    }

    func testProblems() {
        let c = config
        XCTAssertTrue(TokenMerging(ratio: 1).problem(for: c)?.contains("outside [0, 1)") == true)
        XCTAssertTrue(TokenMerging(ratio: 0.5, sx: 16, sy: 2).problem(for: c)?.contains("does not fit the 8×8 token grid") == true)
        XCTAssertTrue(TokenMerging(ratio: 0.5, sx: 1, sy: 1).problem(for: c)?.contains("nothing to merge") == true)
        // At most every source merges: a 2×2 window keeps 16 of 64 tokens as destinations.
        XCTAssertEqual(TokenMerging(ratio: 0.9).removed(c), 48)
    }
}
