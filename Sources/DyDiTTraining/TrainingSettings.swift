import DyDiTModels
/// Every knob of a training run; the defaults are DiT's recipe (AdamW lr 1e-4, no weight
/// decay, EMA 0.9999, label dropout 0.1, uniform timesteps, no clipping, no warm-up).
public struct TrainingSettings: Sendable, Equatable {
    public var steps: Int = 1000
    public var batch: Int = 32
    public var adam = AdamW.Settings()
    public var warmupSteps = 0
    /// The rate after warm-up: constant (DiT's recipe) or decaying to `lrFloor` at `steps`.
    public var lrDecay = LearningRateSchedule.Decay.constant
    public var lrFloor = 0.0
    /// Global gradient-norm clip (nil: none).
    public var gradientClip: Double? = nil
    public var emaDecay = 0.9999
    public var labelDropout = 0.1
    public var timesteps = TimestepSampling.uniform
    public var flip = false
    public var seed: UInt64 = 0
    /// DyDiT fine-tuning (routers trained under a FLOPs target); nil trains a plain DiT.
    public var dydit: FineTuning? = nil
    /// Early exit (ASE-style): each batch draws one timestep interval (with probability its
    /// share of the timesteps), its timesteps uniform in it, and runs that interval's blocks.
    public var earlyExit: EarlyExitSchedule? = nil
    /// The linear layers' products (`train.products`): fp32, or bf16 operands with fp32 sums.
    public var products = TrainingProducts.fp32

    /// DyDiT's fine-tuning recipe (official defaults: λ held at 1 for 100 steps, then ramped;
    /// complete-model loss in the first part; FLOPs-loss weight 2; Gumbel temperature 5).
    public struct FineTuning: Sendable, Equatable {
        public var lambda: LambdaSchedule
        /// Steps during which the complete model's loss is added (0: never).
        public var completeModelSteps: Int
        public var flopsWeight: Double = 2
        public var temperature: Double = 5
        /// Learning-rate factors of the width routers (`attn_rate`, `mlp_rate`) and of the
        /// token routers (`token_selection`): 1 in the official recipe. A token router starting
        /// at bias 35 moves too little in a short fine-tune to ever skip a token; a larger
        /// factor (or a smaller initial bias) lets spatial routing engage.
        public var widthRouterLRScale: Double = 1
        public var tokenRouterLRScale: Double = 1
        /// Which routers learn (the full method: both, dynamic): the paper's ablations.
        public var width = WidthLearning.dynamic
        public var tokens = TokenLearning.dynamic

        public init(lambda: LambdaSchedule, completeModelSteps: Int, flopsWeight: Double = 2, temperature: Double = 5) {
            self.lambda = lambda
            self.completeModelSteps = completeModelSteps
            self.flopsWeight = flopsWeight
            self.temperature = temperature
        }
    }

    public init() {}
}
