import DyDiTDiffusion
import DyDiTKernels
import DyDiTModels

/// What running a spec needs from it, shared by `dydit run` and `dydit train`.
extension ExperimentSpec {
    /// A compute context with `compute.threads` and `compute.isa` (checked against this CPU).
    func computeContext() throws -> ComputeContext {
        let isa = try isa.map { name -> ISA in
            guard let isa = ISA(rawValue: name) else { throw KernelError.unknownISA(name, source: "compute.isa") }
            guard CPUFeatures.current.supports(isa) else { throw KernelError.unsupportedISA(isa, source: "compute.isa", cpu: .current) }
            return isa
        }
        return try ComputeContext(threads: threads, isa: isa)
    }

    /// Classifier-free guidance as the spec asks (nil at scale 1).
    public var guidance: Guidance? {
        guidanceScale == 1 ? nil : Guidance(scale: Float(guidanceScale), channels: guidanceChannels, interval: guidanceInterval)
    }

    /// The spec's width and token routers from the registry, over `routers`' weights.
    func makeRouters(config: DiTConfig, routers: RouterParameters, isa: ISA) throws -> (width: WidthRouter?, token: TokenRouter?) {
        let context = PluginContext(config: config, routers: routers, isa: isa, seed: seed, resolvePath: resolvePath)
        return try Registry.makeRouters(width: width, token: token, context)
    }
}
