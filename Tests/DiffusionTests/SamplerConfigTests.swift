import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// Bad sampler input is a clear error before any work: names, options, step counts, noise.
final class SamplerConfigTests: XCTestCase {
    let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 4)

    func expect(_ fragments: [String], line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let text = "\(error)"
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing in: \(text)", line: line) }
        }
    }

    func testNamesOptionsAndSteps() {
        expect(["unknown sampler 'dpm-solver+'", "did you mean 'dpm-solver'", "ddpm, ddim"]) {
            _ = try SamplerRegistry.make("dpm-solver+", steps: 10, config: config)
        }
        expect(["unknown option 'solver_ordr'", "did you mean 'solver_order'"]) {
            _ = try SamplerRegistry.make("dpm-solver++", steps: 10, options: JSONObject([("solver_ordr", .int(3))]), config: config)
        }
        expect(["solver_order", "1, 2 or 3"]) {
            _ = try SamplerRegistry.make("dpm-solver++", steps: 10, options: JSONObject([("solver_order", .int(4))]), config: config)
        }
        expect(["steps must be at least 1"]) { _ = try SamplerRegistry.make("ddim", steps: 0, config: config) }
        expect(["at most the 1000"]) { _ = try SamplerRegistry.make("ddim", steps: 1001, config: config) }
        expect(["between 1 and the 1000"]) {
            _ = try SamplerRegistry.make("ddim", steps: 2000, options: JSONObject([("convention", .string("diffusers"))]), config: config)
        }
        expect(["unknown option 'etaa'", "did you mean 'eta'"]) {
            _ = try SamplerRegistry.make("ddim", steps: 10, options: JSONObject([("etaa", .double(1))]), config: config)
        }
        expect(["prediction_type", "epsilon"]) {
            _ = try DiffusersConfig(json: try JSONParser.parse(#"{"_class_name": "DDIMScheduler", "prediction_type": "v_prediction"}"#), source: "c.json")
        }
        expect(["c.json", "unsupported scheduler 'PNDMScheduler'", "EulerDiscreteScheduler"]) {
            _ = try DiffusersConfig(json: try JSONParser.parse(#"{"_class_name": "PNDMScheduler"}"#), source: "c.json")
        }
        expect(["final_sigmas_type 'zero' needs algorithm_type dpmsolver++"]) {
            _ = try DiffusersConfig(kind: .dpmMultistep, options: [("algorithm_type", .string("dpmsolver"))])
        }
        expect(["final_sigmas_type 'zero' needs algorithm_type dpmsolver++", "deis"]) {
            _ = try DiffusersConfig(kind: .dpmSinglestep, options: [("algorithm_type", .string("deis"))])
        }
    }

    func testDiffusersConfigFileLoadsAsIs() throws {
        // A scheduler_config.json as diffusers saves it, private keys and all.
        let json = #"{"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.42.1", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000, "solver_order": 2, "steps_offset": 1, "timestep_spacing": "leading", "use_karras_sigmas": true}"#
        let sampler = try DiffusersConfig(json: try JSONParser.parse(json), source: "scheduler_config.json").makeSampler(steps: 25)
        XCTAssertEqual(sampler.steps, 25)
        XCTAssertEqual(sampler.noiseDraws, 0)
    }

    func testRespacingAsDiT() throws {
        XCTAssertEqual(try DiTDiffusion.spaceTimesteps(1000, "10").sorted(), [0, 111, 222, 333, 444, 555, 666, 777, 888, 999])
        XCTAssertEqual(try DiTDiffusion.spaceTimesteps(1000, "ddim25").sorted().prefix(3), [0, 40, 80])
        XCTAssertEqual(try DiTDiffusion.spaceTimesteps(1000, "250").count, 250)
        XCTAssertEqual(try DiTDiffusion.spaceTimesteps(100, "10,5").sorted(), [0, 5, 11, 16, 22, 27, 33, 38, 44, 49, 50, 62, 74, 87, 99])
        XCTAssertThrowsError(try DiTDiffusion.spaceTimesteps(1000, "ddim999"), "no integer stride gives 999 of 1000 steps")
    }

    func testNoiseIsCheckedBeforeWork() throws {
        let model = DiT(DiTParameters.initialized(config, seed: 0, .random), ctx: try ComputeContext(threads: 1))
        let sampler = try SamplerRegistry.make("ddpm", steps: 5, config: config)
        let loop = SamplingLoop(model: model, sampler: sampler, guidance: Guidance(scale: 2))
        // One noise tensor per draw, shaped like the images (guided or not: one trajectory each).
        let size = 2 * config.imageSize
        expect(["3 noise tensors", "draws 5"]) {
            try loop.validate(images: 2, labels: [0, 1], noise: .supplied(Array(repeating: [Float](repeating: 0, count: size), count: 3)))
        }
        expect(["noise tensor 0 holds 10", "expected \(size)"]) {
            try loop.validate(images: 2, labels: [0, 1], noise: .supplied(Array(repeating: [Float](repeating: 0, count: 10), count: 5)))
        }
        expect(["class 7 is outside 0...4"]) { try loop.validate(images: 2, labels: [0, 7], noise: .seeded(1)) }
    }

    /// A sampler set to read the variance channels refuses a model without them, in both
    /// conventions (the check is the sampler's `learnedVarianceOption`, not a downcast).
    func testLearnedVarianceNeedsLearnSigma() throws {
        var plain = config
        plain.learnSigma = false
        let model = DiT(DiTParameters.initialized(plain, seed: 0, .random), ctx: try ComputeContext(threads: 1))
        let cases: [JSONObject] = [JSONObject([("variance_type", .string("learned_range"))]),
                                   JSONObject([("convention", .string("diffusers")), ("variance_type", .string("learned_range"))])]
        for options in cases {
            let sampler = try SamplerRegistry.make("ddpm", steps: 4, options: options, config: plain)
            expect(["variance_type 'learned_range' reads the model's variance channels", "does not learn sigma"]) {
                try SamplingLoop(model: model, sampler: sampler).validate(images: 1, labels: [0], noise: .seeded(1))
            }
        }
        // By default DDPM follows the model: fixed variance without learn_sigma, nothing to refuse.
        let byDefault = try SamplerRegistry.make("ddpm", steps: 4, config: plain)
        XCTAssertNil(byDefault.learnedVarianceOption)
        XCTAssertNoThrow(try SamplingLoop(model: model, sampler: byDefault).validate(images: 1, labels: [0], noise: .seeded(1)))
    }

    /// Layer skip decides from the SDT router's votes, so the SDT network runs on every token
    /// and its MACs count: with every layer kept, layer skip costs what SDT keeping every token
    /// costs (it was counted without the router network before).
    func testLayerSkipCountsItsRouterNetwork() throws {
        let model = DiT(DiTParameters.initialized(config, seed: 2, .random), ctx: try ComputeContext(threads: 1))
        // A token bias far above any logit of this random model: every token kept, every layer run.
        let routers = RouterParameters.initialized(config, seed: 0, tokenBias: 1e6)
        func macs(_ token: TokenRouter) throws -> [Double] {
            var reports: [StepReport] = []
            let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 3, config: config),
                                    routing: Routing(token: token))
            var rng = RandomGenerator(seed: 1)
            _ = try loop.run(xT: rng.normals(config.imageSize), labels: [1], noise: .seeded(2), progress: { reports.append($0) })
            return reports.map(\.macs)
        }
        let sdt = try macs(LearnedTokenRouter(routers))
        let skip = try macs(LayerSkipRouter(inner: LearnedTokenRouter(routers), threshold: 0.5))
        XCTAssertEqual(sdt.count, 3)
        XCTAssertEqual(Set(sdt).count, 1, "every token kept at every step")
        XCTAssertEqual(skip, sdt)
        XCTAssertGreaterThan(sdt[0], MACs(config).total, "the router network's MACs are on top of the dense model's")
    }

    /// Same seed and thread count: bit-identical samples, with guidance and stochastic samplers.
    /// The loop feeds σ-space samplers (diffusers' Euler family) as diffusers' pipelines do: the
    /// state starts at xT × init_noise_sigma and the model sees state/√(σ² + 1) at the sampler's
    /// (fractional: 5 linspace steps are 249.75 apart) timestep. The loop's samples must equal
    /// the scheduler driven by hand that way (SchedulerParityTests checks the steps themselves
    /// against diffusers); a loop that skipped either scaling or rounded t fails.
    func testSigmaSpaceSamplersAreFedAsDiffusersPipelinesFeedThem() throws {
        var config = self.config
        config.learnSigma = false
        let model = DiT(DiTParameters.initialized(config, seed: 4, .random), ctx: try ComputeContext(threads: 1))
        let labels = [0, 3], size = labels.count * config.imageSize
        for name in ["euler", "euler-ancestral", "heun"] {
            let sampler = try SamplerRegistry.make(name, steps: 5, config: config)
            XCTAssertTrue(sampler.modelTimesteps.contains { $0 != $0.rounded() }, "\(name): \(sampler.modelTimesteps)")
            XCTAssertGreaterThan(sampler.initNoiseSigma, 1, name)
            var rng = RandomGenerator(seed: 6)
            let xT = rng.normals(size)
            let noise = (0..<sampler.noiseDraws).map { _ in rng.normals(size) }
            let got = try SamplingLoop(model: model, sampler: sampler).run(xT: xT, labels: labels, noise: .supplied(noise))

            sampler.reset()
            var x = xT.map { Double($0) * sampler.initNoiseSigma }, draws = 0
            var out = [Float](repeating: 0, count: size)
            for k in 0..<sampler.steps {
                let input = x.map { Float($0 * sampler.modelInputScale(atStep: k)) }
                let t = [Float](repeating: Float(sampler.modelTimesteps[k]), count: labels.count)
                input.withUnsafeBufferPointer { xp in
                    out.withUnsafeMutableBufferPointer { model.forward(x: xp.baseAddress!, t: t, y: labels, out: $0.baseAddress!) }
                }
                var z: [Float]?
                if sampler.drawsNoise(atStep: k) { z = noise[draws]; draws += 1 }
                sampler.step(k, eps: out.map(Double.init), v: nil, x: &x, noise: z)
            }
            XCTAssertEqual(got, x.map { Float($0) }, name)
            XCTAssertTrue(got.allSatisfy(\.isFinite), name)
        }
    }

    /// The Euler family takes diffusers' option names and refuses what it does not implement;
    /// `heun` samples a DiT from DiT's betas, while a scheduler_config.json without betas gets
    /// diffusers' Heun defaults (Stable Diffusion's 0.00085 … 0.012, σ_max ≈ 24 against ≈ 157).
    func testEulerFamilyOptions() throws {
        func make(_ name: String, _ options: [(String, JSONValue)]) throws -> Sampler {
            try SamplerRegistry.make(name, steps: 10, options: JSONObject(options), config: config)
        }
        expect(["interpolation_type", "log_linear", "linear"]) { _ = try make("euler", [("interpolation_type", .string("log_linear"))]) }
        expect(["use_beta_sigmas", "not implemented"]) { _ = try make("heun", [("use_beta_sigmas", .bool(true))]) }
        expect(["thresholding"]) { _ = try make("euler-ancestral", [("thresholding", .bool(false))]) }
        expect(["sigma_min", "positive"]) { _ = try make("euler", [("sigma_min", .double(-1))]) }
        let heun = try make("heun", [])
        let file = try DiffusersConfig(json: .object(JSONObject([("_class_name", .string("HeunDiscreteScheduler"))])), source: "t")
            .makeSampler(steps: 10)
        XCTAssertGreaterThan(heun.initNoiseSigma, 100)
        XCTAssertLessThan(file.initNoiseSigma, 50)
        XCTAssertEqual(heun.steps, 19, "10 Heun steps are 19 model calls")
        let karras = try make("euler", [("use_karras_sigmas", .bool(true)), ("sigma_max", .double(20))])
        XCTAssertEqual(karras.initNoiseSigma, 20, accuracy: 1e-5)
    }

    /// UniPC's step to σ = 0 is NaN in diffusers unless it is bh2, on the data prediction and
    /// first order: those combinations are refused with the way out, not run into NaN.
    func testUniPCRefusesWhatEndsInNaN() throws {
        for (options, says) in [([("solver_type", JSONValue.string("bh1"))], "solver_type bh1"),
                                ([("predict_x0", .bool(false))], "predict_x0 false"),
                                ([("lower_order_final", .bool(false))], "lower_order_final false")] {
            expect(["final_sigmas_type 'zero'", says, "sigma_min"]) {
                _ = try SamplerRegistry.make("unipc", steps: 10, options: JSONObject(options), config: config)
            }
            XCTAssertNoThrow(try SamplerRegistry.make("unipc", steps: 10, options: JSONObject(options + [("final_sigmas_type", .string("sigma_min"))]),
                                                      config: config))
        }
        expect(["solver_p", "not implemented"]) {
            _ = try SamplerRegistry.make("unipc", steps: 10, options: JSONObject([("solver_p", .string("ddim"))]), config: config)
        }
    }

    func testSeededSamplingIsDeterministic() throws {
        for threads in [1, 2] {
            let model = DiT(DiTParameters.initialized(config, seed: 3, .random), ctx: try ComputeContext(threads: threads))
            var runs: [[Float]] = []
            for _ in 0..<2 {
                let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddpm", steps: 8, config: config),
                                        guidance: Guidance(scale: 3))
                var rng = RandomGenerator(seed: 5)
                runs.append(try loop.run(xT: rng.normals(2 * config.imageSize), labels: [1, 2], noise: .seeded(9)))
            }
            XCTAssertEqual(runs[0], runs[1], "\(threads) thread(s)")
            XCTAssertFalse(runs[0].contains { !$0.isFinite })
        }
    }

    /// Guidance has one trajectory per image: at scale 0 the guided prediction is the
    /// unconditional one *at the image's own state*, so guided sampling at scale 0 must equal
    /// unconditional sampling (null labels) from the same start and noise. The loop that kept
    /// a second, unconditional trajectory with noise of its own failed this for every
    /// stochastic sampler.
    /// (Without learned variance: the variance channels are the conditional half's under
    /// guidance and the null label's here, a legitimate difference.)
    func testGuidanceAtScaleZeroIsUnconditionalSampling() throws {
        var config = self.config
        config.learnSigma = false
        let model = DiT(DiTParameters.initialized(config, seed: 4, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 11)
        let xT = rng.normals(2 * config.imageSize)
        for name in ["ddpm", "ddim", "dpm-solver++"] {
            let options = JSONObject(name == "ddim" ? [("eta", .double(1))] : [])
            func sampler() throws -> Sampler { try SamplerRegistry.make(name, steps: 6, options: options, config: config) }
            let guided = try SamplingLoop(model: model, sampler: sampler(), guidance: Guidance(scale: 0, channels: .eps))
                .run(xT: xT, labels: [1, 2], noise: .seeded(3))
            let unconditional = try SamplingLoop(model: model, sampler: sampler())
                .run(xT: xT, labels: [config.numClasses, config.numClasses], noise: .seeded(3))
            assertClose(guided, unconditional, tolerance: 1e-5, "\(name): guided at scale 0 vs unconditional")
        }
    }
}
