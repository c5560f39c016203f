import DyDiTKernels

/// DiT's exponential moving average of the weights (`update_ema`): `ema ← d·ema + (1 − d)·p`
/// after every optimiser step; sampling uses the EMA weights. Frozen tensors (`pos_embed`)
/// are equal in both and stay so.
public enum EMA {
    public static func update(_ ema: ParameterSet, from parameters: ParameterSet, decay: Double, ctx: ComputeContext? = nil) {
        precondition(ema.count == parameters.count, "EMA and model layouts differ")
        let d = Float(decay), rest = Float(1 - decay)
        let e = ema.pointer, p = parameters.pointer
        parameters.forEachTrainableChunk(ctx: ctx) { _, range in
            for i in range { e[i] = e[i] * d + p[i] * rest }
        }
    }
}
