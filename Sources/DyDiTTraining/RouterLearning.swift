/// Which of DyDiT's routers a fine-tune learns, and how: the full method and the paper's
/// ablations (TDW only, SDT only, whole-layer MLP skip, a static width), all trained with the
/// same objective and FLOPs target.
public enum WidthLearning: String, Sendable, Equatable, CaseIterable {
    /// TDW: heads and MLP groups chosen per timestep from the timestep embedding.
    case dynamic
    /// One learned mask for every timestep: the width routers' weights are zero and frozen, so
    /// each unit's decision is its bias alone (the checkpoint then runs as `tdw` and gives the
    /// same masks at every step).
    case `static`
    /// Every head and group on: no width routing.
    case off
}

public enum TokenLearning: Sendable, Equatable {
    /// SDT: each token's MLP runs or not, from the token router.
    case dynamic
    /// A block's whole MLP runs or not, per sample: on when at least `threshold` of the token
    /// router's hard decisions are on — what the `layer-skip` router computes at sampling time.
    /// The straight-through gradient goes through the share of soft decisions: every token of
    /// a sample receives the layer mask's gradient divided by the token count.
    case layer(threshold: Double)
    /// Every token through every MLP: no token routing.
    case off
}
