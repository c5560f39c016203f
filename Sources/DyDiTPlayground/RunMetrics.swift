import DyDiTDiffusion
import DyDiTEvaluation
import DyDiTIO
import DyDiTModels
import DyDiTTraining
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one run sampled and timed: everything a run metric reads.
struct RunMeasurements {
    let spec: ExperimentSpec
    let model: DiT
    let routing: Routing
    /// Per sampling step of the run's pass.
    let reports: [StepReport]
    /// Forwards per image at each sampling step: 2 where guided, 1 elsewhere (a guidance
    /// interval mixes them).
    let forwardsPerStep: [Int]
    let timing: LatencyRounds
    let timedImages: Int
    let steps: Int
    /// Seconds spent building the schedule's sliced weights (outside the timings).
    let preparation: Double
    let preparedSlices: (patterns: Int, cachedBytes: Int)?
    /// The timed images of the run, and the dense baseline's from the same noise.
    let compared: [Float]
    let denseSamples: [Float]?
    /// Seconds per sampling step (medians over the rounds), dynamic and dense.
    let stepTimes: StepTimes
    /// Bytes of the step cache (FORA's kept block outputs), 0 without one.
    let cacheBytes: Int
    /// MACs per image of the dense baseline's whole sampling run: the dense model's full
    /// forward times its sampler's forwards (`eval.dense_sampler`'s steps when given).
    let denseMACsPerImage: Double

    func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(1, v.count)) }

    var forwardsPerImage: Double { Double(forwardsPerStep.reduce(0, +)) }

    /// MACs per image over the whole sampling run: each step's MACs per forward times its
    /// forwards (the reports hold every batch's steps). With the same forwards at every step
    /// this is the mean times the forwards — kept in that form so that runs without an
    /// interval record the figures they always did, bit for bit.
    var macsPerImage: Double {
        guard Set(forwardsPerStep).count > 1 else { return mean(reports.map(\.macs)) * forwardsPerImage }
        return mean(reports.map { $0.macs * Double(forwardsPerStep[$0.step]) }) * Double(forwardsPerStep.count)
    }
}

/// What a run's metrics write: their sections of `metrics.json`, the `quality` block, notes.
struct RunReport {
    var sections = JSONObject()
    var quality = JSONObject()
    var notes: [String] = []
}

/// A metric of `eval.metrics` that reads the run's measurements (the classifier-feature
/// metrics, which sample again per seed, are `Metric`s run by `RunQuality`).
protocol RunMetric: NamedPlugin {
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) throws
}

extension RunMetric {
    static var options: [PluginOption] { [] }
}

enum FLOPsMetric: RunMetric {
    static let name = "flops"
    static let summary = "MACs per image and forward (full model), the paper's FLOPs ratio, per-block means"
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) {
        let r = m.reports
        report.sections["flops"] = .object(JSONObject([
            ("gmacs_per_image_forward", .double(m.mean(r.map(\.macs)) / 1e9)),
            ("dense_gmacs_per_image_forward", .double(MACs(m.model.config).total / 1e9)),
            ("flops_ratio", .double(m.mean(r.map(\.flopsRatio)))),
            ("heads_active", .double(m.mean(r.map(\.heads)))),
            ("mlp_groups_active", .double(m.mean(r.map(\.groups)))),
            ("tokens_active", .double(m.mean(r.map(\.tokens)))),
            ("forwards_per_image", .double(m.forwardsPerImage)),
            ("gmacs_per_image", .double(m.macsPerImage / 1e9)),
            // Per image over the whole sampling run, whole model (embeddings, adaLN, final layer
            // too), against the dense baseline's run: what a fewer-steps sampler saves, which
            // the per-forward blocks' ratio above cannot show.
            ("dense_gmacs_per_image", .double(m.denseMACsPerImage / 1e9)),
            ("image_flops_ratio", .double(m.macsPerImage / m.denseMACsPerImage)),
        ]))
    }
}

enum LatencyMetric: RunMetric {
    static let name = "latency"
    static let summary = "seconds per image of the whole sampling loop, and against the dense model when eval.dense_baseline"
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) {
        var latency = JSONObject(m.timing.json(images: m.timedImages))
        latency["timed_images"] = .int(Int64(m.timedImages))
        latency["steps"] = .int(Int64(m.steps))
        latency["slice_build_seconds"] = .double(m.preparation)
        latency["per_step"] = m.stepTimes.json
        report.sections["latency"] = .object(latency)
    }
}

enum MemoryMetric: RunMetric {
    static let name = "memory"
    static let summary = "bytes of weights, activations, sliced weights and a step cache's kept outputs, and the process's peak resident memory"
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        report.sections["memory"] = .object(JSONObject([
            ("weight_bytes", .int(Int64(m.model.weightBytes))), ("workspace_bytes", .int(Int64(m.model.workspaceBytes))),
            ("slice_cache_bytes", .int(Int64(m.model.slices.bytes))), ("step_cache_bytes", .int(Int64(m.cacheBytes))),
            ("slice_patterns", m.preparedSlices.map { .int(Int64($0.patterns)) } ?? .null),
            // getrusage's peak is the process's: in a sweep it includes earlier runs.
            ("process_peak_rss_bytes", .int(Int64(usage.ru_maxrss) * 1024)),
        ]))
    }
}

enum TestLossMetric: RunMetric {
    static let name = "test-loss"
    static let summary = "the variational bound in bits per dimension (learn_sigma) and the eps MSE on eval.test's held-out images, at eval.test.timesteps evenly spaced timesteps plus t = 0, with the run's routers and precision"
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) throws {
        let c = m.model.config, spec = m.spec, test = spec.eval.test
        let data = try Registry.loadDataset(test.dataset, channels: c.inChannels)
        if let top = data.labels.max(), top >= c.numClasses {
            throw TrainingError.data("eval.test: \(data.name) has labels up to \(top); the model has num_classes \(c.numClasses)")
        }
        let clock = ContinuousClock(), start = clock.now
        let result = try QualityMetrics.testLoss(model: m.model, routing: m.routing, dataset: data, images: test.images,
                                                 count: test.timesteps, batch: spec.eval.batch, seed: spec.seed)
        if let bpd = result.bitsPerDim { report.quality["test_loss_bpd"] = .double(bpd) }
        report.quality["test_eps_mse"] = .double(result.epsMSE)
        report.quality["test_images"] = .int(Int64(result.images))
        report.quality["test_timesteps"] = .array(result.timesteps.map { .int(Int64($0)) })
        say(String(format: "test loss on %d images of %@: %@eps MSE %.5f (%.1f s)", result.images, data.name,
                     result.bitsPerDim.map { String(format: "%.4f bits/dim, ", $0) } ?? "", result.epsMSE,
                     DyDiTIO.seconds(clock.now - start)))
    }
}

enum FidelityMetric: RunMetric {
    static let name = "fidelity"
    static let summary = "with routers and eval.dense_baseline: PSNR (dB) and RMSE of each sample against the dense model's sample from the same noise"
    static func measure(_ m: RunMeasurements, into report: inout RunReport, say: (String) -> Void) {
        guard let dense = m.denseSamples else {
            report.notes.append("fidelity needs routers and eval.dense_baseline (samples of the dense model from the same noise)")
            return
        }
        let f = QualityMetrics.fidelity(m.compared, reference: dense, images: m.timedImages)
        report.quality["fidelity_images"] = .int(Int64(m.timedImages))
        report.quality["psnr_vs_dense_db"] = .double(f.psnr)
        report.quality["rmse_vs_dense"] = .double(f.rmse)
        say(String(format: "fidelity to the dense model: PSNR %.2f dB, RMSE %.5f", f.psnr, f.rmse))
    }
}
