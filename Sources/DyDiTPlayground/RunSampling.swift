import DyDiTDiffusion
import DyDiTIO
import DyDiTModels

/// The sampling a run does before it measures: its own pass over every image (seed 0), the
/// latency rounds against the dense baseline, and the quality metrics' extra seeds — with the
/// seeds saved as they are drawn (`SeedSampleStore`), so a stopped run resumes where it was.
struct RunSampling {
    let images: RunImages
    let loop: SamplingLoop
    /// The dense baseline's loop (nil: the run is dense, or `eval.dense_baseline` is off).
    let denseLoop: SamplingLoop?
    /// The random token router draws from one seeded sequence: restarted before every pass,
    /// every pass routes exactly as the first.
    let token: TokenRouter?
    let seeds: SeedSampleStore
    let events: RunEvents

    /// What the first pass and the rounds give the run.
    struct Passes {
        /// Seed 0: the run's samples over every image, and their step reports.
        var first: SamplingPass
        /// The dense baseline's samples of the timed images (nil without a dense baseline).
        var denseSamples: [Float]?
        var timing: LatencyRounds
        var stepTimes: StepTimes
    }

    /// The run's own pass and `rounds` alternating timing rounds (run, dense). The first
    /// round's samples and step reports are the run's — unless the rounds time a subset
    /// (`eval.timing.images`): then one untimed pass over every image comes first and is the
    /// run's. `keepFirst`: seed 0 is saved, and restored on resume, where skipping it changes
    /// nothing the run reports — when the rounds time a subset (they sample again anyway), or
    /// when no metric measures the pass itself (latency, or memory, which reads the loop's state).
    func firstPassAndRounds(rounds: Int, keepFirst: Bool, sampler: Sampler, denseSampler: Sampler,
                            say: (String) -> Void) throws -> Passes {
        let subset = images.timesSubset
        func phase(_ name: String, _ r: Int) -> String { rounds == 1 ? name : "\(name) round \(r + 1)/\(rounds)" }
        let restored = keepFirst ? seeds.loadFirstPass(count: images.labels.count * images.imageSize) : nil
        if restored != nil {
            say("seed 0: \(images.labels.count) images drawn by an interrupted attempt of this run (same inputs, code and machine), reused")
        }
        func keep(_ pass: SamplingPass) throws {
            if keepFirst { try seeds.saveFirstPass(pass, shape: shape) }
        }
        var first = restored
        if subset {
            if first == nil {
                token?.reset()
                first = keepFirst ? try drawSaving(seed: 0, phase: "sample", say: say) : try images.sample(loop, phase: "sample", events: events)
                try keep(first!)
            }
            say("timing: the first \(images.timedImages) of \(images.labels.count) images (eval.timing.images), \(rounds) round(s)")
        }
        // Each round's seconds per sampling step, summed over its batches: where the speed-up
        // comes from along the schedule (the routers spend differently at each timestep).
        var dynamicSteps: [[Double]] = [], denseSteps: [[Double]] = []
        var denseSamples: [Float]?
        let timing = try LatencyRounds.measure(rounds: rounds, dynamic: { r in
            // Restored (no metric times this pass): the run's pass is the saved one, with its time.
            if let restored, !subset {
                dynamicSteps.append(StepTimes.perStep(restored.reports, steps: sampler.steps))
                return restored.seconds
            }
            token?.reset()
            // The run's own pass, untimed by any metric (keepFirst without a subset: no latency
            // metric, one round), is saved batch by batch like a quality seed.
            let pass = keepFirst && !subset
                ? try drawSaving(seed: 0, phase: phase("sample", r), say: say)
                : try images.sample(loop, phase: phase(subset ? "timed" : "sample", r), over: images.timedBatches, events: events)
            if r == 0 && !subset {
                first = pass
                try keep(pass)
            }
            dynamicSteps.append(StepTimes.perStep(pass.reports, steps: sampler.steps))
            return pass.seconds
        }, dense: denseLoop.map { dense in { r in
            let pass = try images.sample(dense, phase: phase("dense", r), over: images.timedBatches, events: events)
            if r == 0 { denseSamples = pass.samples }
            denseSteps.append(StepTimes.perStep(pass.reports, steps: denseSampler.steps))
            return pass.seconds
        } })
        let stepTimes = StepTimes(timesteps: sampler.timesteps, denseTimesteps: denseSampler.timesteps,
                                  dynamic: StepTimes.medians(dynamicSteps),
                                  dense: denseSteps.isEmpty ? nil : StepTimes.medians(denseSteps), images: images.timedImages)
        return Passes(first: first!, denseSamples: denseSamples, timing: timing, stepTimes: stepTimes)
    }

    /// The quality metrics' sample sets: seed 0 (`first`, the run's own samples), then each
    /// further seed from its own noise. Each extra seed is saved once drawn: a run stopped here
    /// resumes from the next one.
    func qualitySets(first: [Float], spec: ExperimentSpec, say: (String) -> Void) throws -> [[Float]] {
        var sets = [first]
        for s in 1..<max(1, spec.eval.seeds) {
            if let saved = seeds.load(seed: s, count: first.count) {
                say("seed \(s): \(images.labels.count) images drawn by an interrupted attempt of this run (same inputs, code and machine), reused")
                sets.append(saved)
                continue
            }
            let n = RunQuality.noise(spec: spec, index: s, values: first.count)
            token?.reset()
            sets.append(try drawSaving(seed: s, phase: "seed \(s)", start: n.xT, noise: n.noiseSeed, say: say).samples)
            try seeds.save(seed: s, samples: sets[s], shape: shape)
        }
        return sets
    }

    /// Seed `seed`'s pass over every image, saved after each batch (`SeedSampleStore.savePartial`)
    /// and resumed from what an interrupted attempt saved — unless the token router's decisions
    /// depend on the batches before (a random sequence): then it is drawn whole.
    private func drawSaving(seed: Int, phase: String, start: [Float]? = nil, noise: UInt64? = nil,
                            say: (String) -> Void) throws -> SamplingPass {
        guard !(token?.dependsOnEarlierCalls ?? false) else {
            return try images.sample(loop, phase: phase, start: start, noise: noise, events: events)
        }
        let imageShape = Array(shape.dropFirst())
        let resume = seeds.loadPartial(seed: seed, imageValues: images.imageSize)
            .flatMap { $0.batches < images.batches.count
                && $0.pass.samples.count == images.batches[$0.batches - 1].upperBound * images.imageSize ? $0 : nil }
        if let resume {
            say("seed \(seed): \(resume.batches) of \(images.batches.count) batches drawn by an interrupted attempt of this run (same inputs, code and machine), going on from batch \(resume.batches + 1)")
        }
        return try images.sample(loop, phase: phase, start: start, noise: noise, resume: resume, afterBatch: { pass, done in
            try seeds.savePartial(seed: seed, pass, batches: done, imageShape: imageShape)
        }, events: events)
    }

    /// The saved sample sets' tensor shape: images × channels × height × width.
    private var shape: [Int] {
        let c = loop.model.config
        return [images.labels.count, c.inChannels, c.inputSize, c.inputSize]
    }
}
