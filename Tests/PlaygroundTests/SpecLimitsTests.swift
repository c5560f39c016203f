import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTPlayground
import Foundation
import XCTest

/// Specs that validated but escaped the output folder, trapped, aborted at run time or took
/// minutes to validate (issue 13 §3): each is now a spec error with its path and position.
final class SpecLimitsTests: XCTestCase {
    func issues(_ text: String) -> [SpecIssue] {
        do {
            _ = try SpecFile(text: text, path: "spec.json").expand(checkFiles: false)
            return []
        } catch let e as SpecErrors {
            return e.issues
        } catch {
            XCTFail("unexpected \(error)")
            return []
        }
    }

    func assertIssue(_ text: String, at path: String, mentions: [String], line: UInt = #line) {
        let found = issues(text)
        guard let issue = found.first(where: { $0.path == path }) else {
            return XCTFail("no issue at \(path); got: \(found.map(\.description))", line: line)
        }
        for m in mentions { XCTAssertTrue(issue.message.contains(m), "'\(m)' missing from: \(issue)", line: line) }
    }

    /// "." and ".." named the output folder itself or its parent; "/" a sub-folder.
    func testNamesStayInsideTheOutputFolder() {
        for name in ["..", ".", "a/b", "../x", ".hidden", "x\\u0000y", String(repeating: "a", count: 201)] {
            XCTAssertFalse(issues(#"{"name": "\#(name)"}"#).filter { $0.path == "$.name" }.isEmpty, name)
        }
        XCTAssertEqual(issues(#"{"name": "ok.v2_final-3"}"#), [])
    }

    /// A one-value sweep over `name` used to leave the unchecked base name as the run id.
    func testSingleRunIsNamedByItsCheckedName() throws {
        let runs = try SpecFile(text: #"{"name": "..", "sweep": {"grid": {"name": ["ok"]}}}"#).expand(checkFiles: false)
        XCTAssertEqual(runs.map(\.id), ["ok"])
        assertIssue(#"{"name": "ok", "sweep": {"grid": {"name": [".."]}}}"#, at: "$.name", mentions: ["may not start with '.'"])
    }

    func testRunStoreRefusesIDsOutsideItsFolder() throws {
        let dir = NSTemporaryDirectory() + "dydit-limits-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try RunStore(directory: dir)
        for id in ["..", ".", "a/b", ""] {
            XCTAssertThrowsError(try store.lock(id), id) { XCTAssertTrue("\($0)".contains("not a plain folder name"), "\($0)") }
            XCTAssertThrowsError(try store.begin(id, resolved: .null), id)
        }
    }

    /// mlp_ratio 1e19: Double → Int trapped in `validate`.
    func testHugeMLPRatioIsAnError() {
        assertIssue(#"{"name": "x", "backbone": {"config": {"hidden_size": 64, "depth": 2, "num_heads": 4, "patch_size": 2, "mlp_ratio": 1e19}}}"#,
                    at: "$.backbone.config", mentions: ["mlp_ratio", "at most"])
    }

    /// Sizes that validated and then aborted at run time: memory is estimated and compared
    /// with this machine's.
    func testSpecsThatCannotFitInMemoryAreRefused() {
        let huge = #"{"name": "x", "backbone": {"config": {"hidden_size": 262144, "depth": 2000, "num_heads": 16, "patch_size": 2}}}"#
        assertIssue(huge, at: "$.backbone", mentions: ["needs about", "TiB", "this machine has"])
        let ratio = #"{"name": "x", "backbone": {"config": {"hidden_size": 64, "depth": 2, "num_heads": 4, "patch_size": 2, "mlp_ratio": 1e12}}}"#
        XCTAssertFalse(issues(ratio).isEmpty)
        assertIssue(#"{"name": "x", "backbone": {"model": "DiT-S/2", "input_size": 4096}}"#, at: "$.backbone",
                    mentions: ["needs about", "sampling 8 images per batch with guidance"])
        // Training keeps every block's attention probabilities: a batch that samples fine can
        // still be refused for training.
        assertIssue(#"{"name": "x", "backbone": {"model": "DiT-S/2", "input_size": 256}, "eval": {"batch": 1, "samples": 1}, "train": {"batch": 4096}}"#,
                    at: "$.backbone", mentions: ["training 4096 images per step"])
        XCTAssertEqual(issues(#"{"name": "x", "backbone": {"model": "DiT-XL/2"}}"#), [])
    }

    func testMemoryEstimateMatchesWhatARunAllocates() throws {
        let c = DiTConfig(inputSize: 16, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10)
        let e = MemoryEstimate.sampling(c, batch: 3, samples: 3, guided: true, precision: .fp32, threads: 1)
        let model = DiT(DiTParameters.initialized(c, seed: 0, .random), ctx: try ComputeContext(threads: 1))
        model.reserve(batch: 6)
        // Weights: fp32 parameters and their packed copy; activations at least the workspace.
        XCTAssertGreaterThanOrEqual(e.weights, Double(model.weightBytes))
        XCTAssertLessThan(e.weights, 3 * Double(model.weightBytes))
        XCTAssertGreaterThanOrEqual(e.activations, Double(model.workspaceBytes))
        XCTAssertLessThan(e.activations, 4 * Double(model.workspaceBytes))
        // A step cache (FORA) adds exactly the buffers a cached forward of that batch fills.
        let cache = BlockCache(config: c)
        let x = [Float](repeating: 0.1, count: 6 * c.imageSize)
        var out = [Float](repeating: 0, count: 6 * c.outChannels * c.inputSize * c.inputSize)
        out.withUnsafeMutableBufferPointer {
            model.forward(x: x, t: [Float](repeating: 10, count: 6), y: [0, 1, 2, 10, 10, 10], out: $0.baseAddress!,
                          caching: BlockCaching(cache: cache, mode: .compute))
        }
        let cached = MemoryEstimate.sampling(c, batch: 3, samples: 3, guided: true, precision: .fp32, threads: 1, stepCacheBuffers: FORAPlugin.buffers(depth: c.depth))
        XCTAssertEqual(cached.activations - e.activations, Double(cache.byteCount))
    }

    /// --threads had no bound (4096 threads took 8 GB; 100000 exhausted the process limit).
    func testThreadsAreBounded() {
        let limit = CPUBudget.current.maxThreads
        assertIssue(#"{"name": "x", "compute": {"threads": 100000}}"#, at: "$.compute.threads", mentions: ["at most \(limit)"])
        XCTAssertEqual(issues(#"{"name": "x", "compute": {"threads": \#(limit)}}"#), [])
    }

    /// 10⁶ runs were expanded (minutes, gigabytes) before anything ran.
    func testSweepSizeIsCapped() {
        let values = "[" + (0..<1000).map(String.init).joined(separator: ",") + "]"
        let text = #"{"name": "x", "sweep": {"grid": {"seed": \#(values), "eval.samples": \#(values)}}}"#
        let start = ContinuousClock.now
        assertIssue(text, at: "$.sweep", mentions: ["1000000 runs", "at most \(SpecLimits.maxRuns)"])
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    /// 200 000 keys took 121 s to validate (quadratic object and key checks).
    func testManyKeysValidateQuickly() {
        let keys = (0..<200_000).map { "\"k\($0)\": 1" }.joined(separator: ", ")
        let start = ContinuousClock.now
        let found = issues(#"{"name": "x", \#(keys)}"#)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(20))
        // The first few unknown keys one by one, the rest counted.
        XCTAssertEqual(found.count, 21)
        XCTAssertEqual(found.last?.path, "$")
        XCTAssertTrue(found.last?.message.contains("199980 more unknown keys") ?? false, "\(found.last!)")
        let many = (0..<150).map { SpecIssue(file: "f", path: "$.k\($0)", position: nil, message: "m") }
        XCTAssertTrue(SpecErrors(issues: many).description.hasSuffix("… and 50 more"))
        // The same for a sweep with many (bad) paths.
        let paths = (0..<20_000).map { "\"sweep.k\($0)\": [1]" }.joined(separator: ", ")
        XCTAssertEqual(issues(#"{"name": "x", "sweep": {"grid": {\#(paths)}}}"#).count, 20_000)
    }

    /// Duplicate keys were last-one-wins: `"steps": 20, "steps": 50` ran 50 steps silently.
    func testDuplicateKeysNameTheKeyAndPlace() {
        let found = issues("{\n  \"name\": \"x\",\n  \"sampler\": {\"steps\": 20,\n              \"steps\": 50}\n}")
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.path, "$.sampler.steps")
        XCTAssertEqual(found.first?.position, .init(line: 4, column: 15))
        XCTAssertTrue(found.first?.message.contains("duplicate key 'steps'") ?? false, "\(found)")
    }
}
