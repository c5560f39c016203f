import DyDiTIO

extension DiffusersConfig {
    /// The scheduler's training ᾱ table (float32 values, as diffusers holds it).
    public var alphasCumprod: [Double] { DiffusersSchedule(self).alphasCumprod }

    /// The scheduler this config describes, set to `steps` inference steps.
    public func makeSampler(steps: Int) throws -> Sampler {
        switch kind {
        case .ddpm: return try DiffusersDDPM(self, steps: steps)
        case .ddim: return try DiffusersDDIM(self, steps: steps)
        case .dpmMultistep, .dpmSinglestep: return try DPMSolver(self, steps: steps)
        case .euler: return try DiffusersSigmaSampler(self, method: .euler, steps: steps)
        case .eulerAncestral: return try DiffusersSigmaSampler(self, method: .eulerAncestral, steps: steps)
        case .heun: return try DiffusersSigmaSampler(self, method: .heun, steps: steps)
        case .unipc: return try UniPC(self, steps: steps)
        case .deis: return try DEIS(self, steps: steps)
        }
    }
}
