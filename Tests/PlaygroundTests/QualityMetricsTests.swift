import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTPlayground
import DyDiTTraining
import Foundation
import XCTest

/// The quality metrics: PSNR/RMSE by their definitions; the test-loss bound's quadrature
/// against the explicit sum over every timestep; both through a run's metrics.json.
final class QualityMetricsTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-quality-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<12 {
            for p in 0..<36 { pixels.append(UInt8((p * 7 + i * 29) % 256)) }
            labels.append(UInt8(i % 3))
        }
        try IDXFile.write(shape: [12, 6, 6], bytes: pixels, to: "\(dir)/t10k-images-idx3-ubyte.gz")
        try IDXFile.write(shape: [12], bytes: labels, to: "\(dir)/t10k-labels-idx1-ubyte.gz")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testFidelity() {
        // Image 0 identical (capped at 100 dB); image 1 off by 0.2 everywhere: MSE 0.04, PSNR 10·log10(4/0.04) = 20 dB.
        let reference: [Float] = [0, 0.5, -1, 1, 0.25, 0.25, 0.25, 0.25]
        var samples = reference
        for i in 4..<8 { samples[i] += 0.2 }
        let f = QualityMetrics.fidelity(samples, reference: reference, images: 2)
        XCTAssertEqual(f.psnr, (100 + 20) / 2, accuracy: 1e-5)
        XCTAssertEqual(f.rmse, (4 * 0.04 / 8).squareRoot(), accuracy: 1e-6)
    }

    func testBoundQuadratureEqualsTheExplicitSumWhenEveryTimestepIsUsed() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 4, inChannels: 1, hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 3)
        let model = DiT(DiTParameters.initialized(c, seed: 2, .random), ctx: try ComputeContext(threads: 1))
        let data = try ImageDataset.fashionMNIST(directory: dir, split: "test")
        let all = try QualityMetrics.testLoss(model: model, routing: Routing(), dataset: data, images: 1, count: 999, batch: 1, seed: 5)
        XCTAssertEqual(all.timesteps, Array(0..<1000), "count 999 evaluates every timestep once")
        // The same image, noise and timesteps, summed explicitly.
        let loss = try HybridLoss(learnSigma: true)
        var loader = try BatchLoader(dataset: data, batch: 1, inputSize: 8, channels: 1, flip: false, seed: 5)
        var rng = RandomGenerator(seed: 5 ^ 0x7E57)
        let (x0, y) = loader.next(&rng)
        var sum = 0.0
        for t in 0..<1000 {
            let noise = rng.normals(c.imageSize)
            let xt = loss.noisy(x0: x0, t: [t], noise: noise)
            let out = try model.forward(x: xt, t: [Float(t)], y: y)
            sum += loss.evaluate(output: out, x0: x0, xt: xt, t: [t], noise: noise, channels: 1).vb[0]
        }
        XCTAssertEqual(try XCTUnwrap(all.bitsPerDim), sum, accuracy: 1e-9 * sum)

        // Fewer timesteps: midpoints of equal intervals, the same seed giving the same number.
        let ten = try QualityMetrics.testLoss(model: model, routing: Routing(), dataset: data, images: 5, count: 10, batch: 2, seed: 5)
        XCTAssertEqual(ten.timesteps, [0, 50, 150, 250, 350, 450, 550, 650, 750, 850, 950])
        XCTAssertEqual(ten.images, 5)
        let again = try QualityMetrics.testLoss(model: model, routing: Routing(), dataset: data, images: 5, count: 10, batch: 2, seed: 5)
        XCTAssertEqual(ten.bitsPerDim, again.bitsPerDim)
        XCTAssertEqual(ten.epsMSE, again.epsMSE)
    }

    func testRunReportsQuality() throws {
        let text = """
        {"name": "q", "seed": 1,
         "backbone": {"type": "dydit", "config": {"hidden_size": 32, "depth": 1, "num_heads": 2, "patch_size": 4},
                      "input_size": 8, "in_channels": 1, "num_classes": 3},
         "routers": {"width": {"type": "random", "keep": 0.5}, "token": "none"},
         "sampler": {"type": "ddim", "steps": 3}, "guidance": {"scale": 2},
         "eval": {"metrics": ["flops", "latency", "fidelity", "test-loss"], "samples": 2, "batch": 2, "dense_baseline": true,
                  "test": {"dataset": {"type": "fashion-mnist", "path": "\(dir)"}, "images": 4, "timesteps": 3}},
         "compute": {"threads": 1}, "output": {"dir": "\(dir)/out"}}
        """
        let run = try XCTUnwrap(try SpecFile(text: text).expand().first)
        let store = try RunStore(directory: "\(dir)/out")
        let metrics = try ExperimentRunner(store: store).execute(run, events: RunEvents(message: { _ in }, step: { _, _, _, _ in }))
        try Summary.write(store)
        let q = try XCTUnwrap(metrics["quality"]?.objectValue)
        XCTAssertGreaterThan(try XCTUnwrap(q["test_loss_bpd"]?.doubleValue), 0)
        XCTAssertGreaterThan(try XCTUnwrap(q["test_eps_mse"]?.doubleValue), 0)
        XCTAssertLessThan(try XCTUnwrap(q["psnr_vs_dense_db"]?.doubleValue), 100, "half the heads off changes the samples")
        XCTAssertEqual(q["test_images"]?.intValue, 4)
        let summary = try String(contentsOfFile: "\(dir)/out/summary.csv", encoding: .utf8)
        XCTAssert(summary.contains("test_loss_bpd") && summary.contains("psnr_vs_dense_db"), summary)
        // Every column in the CSV; the table a person reads leaves out what no run measured.
        XCTAssert(summary.split(separator: "\n")[0].contains(",fd,"), summary)
        let table = try String(contentsOfFile: "\(dir)/out/summary.md", encoding: .utf8)
        XCTAssert(table.contains("test bits/dim") && !table.contains("FD (classifier features)"), table)
    }
}
