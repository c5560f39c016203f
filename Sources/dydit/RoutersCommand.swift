import ArgumentParser
import DyDiTDiffusion
import DyDiTIO
import DyDiTModels

struct RoutersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routers",
        abstract: "DyDiT router tools.",
        subcommands: [ExportMasks.self, TokenMasks.self])
}

struct ExportMasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the TDW masks of a checkpoint's width routers over a schedule (safetensors or CSV), for plots or as static masks.",
        discussion: """
        .safetensors output: `attn_masks` and `mlp_masks` [K, depth, NH] and `timesteps` [K] for the \
        schedule's K timesteps; with --all, `attn_masks_all_t` and `mlp_masks_all_t` [1000, depth, NH], \
        which `dydit sample --routers static --static-masks` reads. .csv output: one line per timestep, \
        block and kind (attn/mlp) with the number of active units and each unit's mask.
        """)

    @Option(help: "Weights (a DyDiT checkpoint; a plain DiT gets routers at their initialisation).")
    var weights: String
    @Option(help: "Sampler whose timesteps to use.")
    var sampler: String = "ddpm"
    @Option(help: "Steps of that sampler.")
    var steps: Int = 250
    @Flag(help: "Every training timestep 0…999 instead of a schedule.")
    var all = false
    @Option(help: "Output file, .safetensors or .csv.")
    var out: String
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            guard out.hasSuffix(".safetensors") || out.hasSuffix(".csv") else {
                throw ValidationError("--out must end in .safetensors or .csv (got \(out))")
            }
            let ckpt = try Checkpoint(path: weights)
            let c = ckpt.config
            let ctx = try compute.context()
            let plan = ckpt.plan(asking: nil)
            let model = DiT(try ckpt.parameters(for: plan), ctx: ctx, precision: plan)
            let router = LearnedWidthRouter(ckpt.routersOrInitialized(), isa: ctx.isa)
            let timesteps = all ? (0..<1000).map(Double.init)
                : try SamplerRegistry.make(sampler, steps: steps, config: c, source: "--sampler \(sampler)").modelTimesteps
            let (attn, mlp) = WidthMaskExport.masks(router: router, model: model, timesteps: timesteps)
            if out.hasSuffix(".csv") {
                try AtomicFile.write(WidthMaskExport.csv(timesteps: timesteps, attn: attn, mlp: mlp, depth: c.depth, heads: c.numHeads), to: out)
            } else {
                let shape = [timesteps.count, c.depth, c.numHeads]
                let suffix = all ? "_all_t" : ""
                try SafeTensorsWriter.write([("attn_masks" + suffix, Tensor(attn, shape: shape)), ("mlp_masks" + suffix, Tensor(mlp, shape: shape)),
                                             ("timesteps", timestepTensor(timesteps))],
                                            metadata: ["config": c.json.serialized(), "weights": weights,
                                                       "schedule": all ? "all" : "\(sampler) \(steps)"], to: out)
            }
            let share = { (m: [Float]) in Double(m.reduce(0, +)) / Double(m.count) }
            print(String(format: "wrote %d timesteps × %d blocks of masks to %@ (mean active: heads %.3f, MLP groups %.3f)",
                         timesteps.count, c.depth, out, share(attn), share(mlp)))
        }
    }

    /// Integers as I64 (DDPM, DDIM, DPM-Solver); fractional timesteps (diffusers' Euler family) as F32.
    func timestepTensor(_ t: [Double]) -> Tensor {
        t.allSatisfy { $0 == $0.rounded() } ? Tensor(t.map { Int64($0) }, shape: [t.count]) : Tensor(t.map { Float($0) }, shape: [t.count])
    }
}
