/// A sampler: the timesteps it evaluates the model at, and one update of the sample per
/// model evaluation. DDPM, DDIM and DPM-Solver(++) in DiT's and diffusers' conventions all
/// conform; the sampling loop is the same for every one.
///
/// State and arithmetic are Double; the model sees the sample rounded to float32.
public protocol Sampler: AnyObject {
    /// The registry name (`ddpm`, `ddim`, `dpm-solver++`, …) with its convention.
    var name: String { get }
    /// Original timesteps (0…T−1, what the model and DyDiT's routers receive), in order.
    var timesteps: [Int] { get }
    /// Whether step `k` uses a noise draw (`variance_noise`): the caller supplies one
    /// `[B, C, H, W]` tensor per such step, or the loop draws it from the seeded generator.
    func drawsNoise(atStep k: Int) -> Bool
    /// Forgets multistep history, for a new trajectory.
    func reset()
    /// Advances `x [B, C, H, W]` by step `k`. `eps` is the model's noise prediction (same
    /// shape); `v` its variance interpolation values when the model learns sigma.
    func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?)
    /// The option that reads the model's variance channels (`v`), if this sampler is set to:
    /// such a sampler needs a model with learn_sigma.
    var learnedVarianceOption: String? { get }
    /// The timestep the model and DyDiT's routers receive at step k: fractional for samplers
    /// that interpolate the schedule (diffusers' Euler family), where `timesteps` holds them
    /// rounded.
    var modelTimesteps: [Double] { get }
    /// The factor between the state and the model's input at step k (diffusers'
    /// `scale_model_input`): 1/√(σ² + 1) for samplers whose state is x/√ᾱ, else 1.
    func modelInputScale(atStep k: Int) -> Double
    /// The initial state is standard normal noise times this (the pipelines'
    /// `latents * scheduler.init_noise_sigma`).
    var initNoiseSigma: Double { get }
}

extension Sampler {
    public var learnedVarianceOption: String? { nil }
    public var modelTimesteps: [Double] { timesteps.map(Double.init) }
    public func modelInputScale(atStep k: Int) -> Double { 1 }
    public var initNoiseSigma: Double { 1 }
    public var steps: Int { timesteps.count }
    /// How many noise tensors a whole trajectory uses.
    public var noiseDraws: Int { (0..<steps).filter { drawsNoise(atStep: $0) }.count }
}
