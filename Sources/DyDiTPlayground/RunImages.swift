import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels

/// One pass of a sampling loop over some of a run's images: the images, every step's report,
/// the seconds it took, and the seconds it spent building sliced weights (a once-per-schedule
/// cost reported on its own as `slice_build_seconds`, not in `seconds`).
struct SamplingPass {
    var samples: [Float]
    var reports: [StepReport]
    var seconds: Double
    var preparation: Double
}

/// The images a run draws and how it draws them: one label per image (the spec's classes in
/// turn), the start noise of seed 0, the per-batch noise seeds, and the batches that the
/// latency rounds time.
struct RunImages {
    let labels: [Int]
    let xT: [Float]
    let noiseSeed: UInt64
    let batches: [Range<Int>]
    /// The timing rounds' images: a prefix of the same batches, so they are the same images
    /// as the first ones of the full pass (each batch draws from noise seeded by its index).
    let timedBatches: [Range<Int>]
    let imageSize: Int
    /// Names the run in the error of a non-finite pass.
    let runID: String

    init(spec: ExperimentSpec, config c: DiTConfig, runID: String) {
        let classes = spec.eval.classes, n = spec.eval.samples, batch = spec.eval.batch
        labels = (0..<n).map { classes[$0 % classes.count] }
        var rng = RandomGenerator(seed: spec.seed)
        xT = rng.normals(n * c.imageSize)
        noiseSeed = rng.next()
        let all = stride(from: 0, to: n, by: batch).map { $0..<min(n, $0 + batch) }
        batches = all
        timedBatches = spec.eval.timingImages.map { k in Array(all.prefix { $0.lowerBound < k }) } ?? all
        imageSize = c.imageSize
        self.runID = runID
    }

    var timedImages: Int { timedBatches.last!.upperBound }
    /// true when the rounds time only the first images (`eval.timing.images`).
    var timesSubset: Bool { timedBatches.count < batches.count }

    /// One pass over the images of `over` (every batch by default), from seed 0's noise or
    /// another seed's `start` and `noise`. Fails on a non-finite sample: nothing downstream
    /// may measure a diverged model. `resume`: the first batches of this same pass, finished
    /// earlier — the pass goes on from the next one (each batch draws from its own noise);
    /// `afterBatch` receives the pass so far and its number of batches after each batch.
    func sample(_ loop: SamplingLoop, phase: String, start: [Float]? = nil, noise: UInt64? = nil,
                over: [Range<Int>]? = nil, resume: (pass: SamplingPass, batches: Int)? = nil,
                afterBatch: ((SamplingPass, Int) throws -> Void)? = nil, events: RunEvents) throws -> SamplingPass {
        let xT = start ?? xT, noiseSeed = noise ?? noiseSeed
        let batches = over ?? batches
        let n = imageSize
        let first = resume?.batches ?? 0
        var out = resume?.pass.samples ?? [], reports = resume?.pass.reports ?? []
        var preparation = 0.0, saving = 0.0
        let clock = ContinuousClock(), began = clock.now
        // Seconds of sampling — without slice building or `afterBatch` — the resumed batches' included.
        func pass() -> SamplingPass {
            let earlier = resume?.pass
            return SamplingPass(samples: out, reports: reports,
                                seconds: (earlier?.seconds ?? 0) + DyDiTIO.seconds(clock.now - began) - preparation - saving,
                                preparation: (earlier?.preparation ?? 0) + preparation)
        }
        for i in first..<batches.count {
            let range = batches[i]
            let x = Array(xT[(range.lowerBound * n)..<(range.upperBound * n)])
            out += try loop.run(xT: x, labels: Array(labels[range]), noise: .seeded(noiseSeed &+ UInt64(i))) { r in
                reports.append(r)
                events.step(phase, i, batches.count, r)
            }
            preparation += loop.preparationSeconds
            if let afterBatch, i + 1 < batches.count {
                let t = clock.now
                try afterBatch(pass(), i + 1)
                saving += DyDiTIO.seconds(clock.now - t)
            }
        }
        let result = pass()
        try FiniteCheck.require(out, "run \(runID): the \(phase.hasPrefix("dense") ? "dense baseline's " : "")samples",
                                hint: "the weights or the guidance scale make the model diverge; the run is not complete")
        return result
    }
}
