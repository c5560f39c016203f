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
    /// may measure a diverged model.
    func sample(_ loop: SamplingLoop, phase: String, start: [Float]? = nil, noise: UInt64? = nil,
                over: [Range<Int>]? = nil, events: RunEvents) throws -> SamplingPass {
        let xT = start ?? xT, noiseSeed = noise ?? noiseSeed
        let batches = over ?? batches
        let n = imageSize
        var out: [Float] = [], reports: [StepReport] = []
        var preparation = 0.0
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for (i, range) in batches.enumerated() {
                let x = Array(xT[(range.lowerBound * n)..<(range.upperBound * n)])
                out += try loop.run(xT: x, labels: Array(labels[range]), noise: .seeded(noiseSeed &+ UInt64(i))) { r in
                    reports.append(r)
                    events.step(phase, i, batches.count, r)
                }
                preparation += loop.preparationSeconds
            }
        }
        try FiniteCheck.require(out, "run \(runID): the \(phase.hasPrefix("dense") ? "dense baseline's " : "")samples",
                                hint: "the weights or the guidance scale make the model diverge; the run is not complete")
        return SamplingPass(samples: out, reports: reports, seconds: DyDiTIO.seconds(elapsed) - preparation, preparation: preparation)
    }
}
