import ArgumentParser
import DyDiTIO
import DyDiTKernels
import DyDiTModels

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run the model on x, t, y from a safetensors file and write its output.",
        discussion: """
        Reads x [B, C, H, W], t [B] and y [B] from --inputs and writes `out`. When the inputs also hold \
        cfg/x, cfg/t, cfg/y and cfg/scale, writes `cfg/out` (DiT's forward_with_cfg) too. On a DyDiT \
        checkpoint `out` is the masked reference path, and the file also gets `out_fast` (sliced \
        weights, gathered tokens), `attn_masks`, `mlp_masks` [B, depth, NH], `token_masks`, \
        `token_logits` [B, depth, N] and `complete_out` (every mask on). The output file is written \
        atomically: on any error no file is left behind.
        """)

    @Option(help: "Weights (.safetensors with the config in its metadata).")
    var weights: String

    @Option(help: "Inputs (.safetensors holding x, t, y, optionally cfg/x, cfg/t, cfg/y, cfg/scale).")
    var inputs: String

    @Option(help: "Output .safetensors file.")
    var out: String

    @Option(help: "Guided channels for cfg/out: dit (first 3, the official quirk) or eps (all in_channels).")
    var guidance: GuidanceChannels = .dit

    @Option(help: "Weight precision of the linear layers: fp32, fp16, int8 or bf16 (default: the file's own, fp32 or what `dydit quantize` stored).")
    var precision: WeightPrecision?

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            let channels = guidance
            let ckpt = try Checkpoint(path: weights)
            let io = try SafeTensorsFile(path: inputs)
            let c = ckpt.config
            let plan = ckpt.plan(asking: precision)
            let model = DiT(try ckpt.parameters(for: plan), ctx: try compute.context(), precision: plan)
            func batchInputs(_ prefix: String) throws -> (x: [Float], t: [Float], y: [Int]) {
                let t = try io.tensor(prefix + "t")
                guard t.shape.count == 1 else { throw IOError(inputs, "tensor '\(prefix)t' has shape \(t.shape), expected [B]") }
                let b = t.shape[0]
                let x = try io.floats(prefix + "x", shape: [b, c.inChannels, c.inputSize, c.inputSize])
                let y = try io.tensor(prefix + "y", shape: [b])
                guard y.holdsIntegers else { throw IOError(inputs, "tensor '\(prefix)y' holds non-integer labels") }
                return (x, t.floats(), y.integers().map { Int($0) })
            }
            let (x, t, y) = try batchInputs("")
            let shape = [t.count, c.outChannels, c.inputSize, c.inputSize]
            var outputs: [(String, Tensor)] = []
            var routing = Routing()
            if let routers = ckpt.routers {
                // DyDiT: the masked reference path as `out`, the fast path as `out_fast`, the
                // decisions, and the dense model as `complete_out` (the reference files' keys).
                let isa = model.ctx.isa
                let width = LearnedWidthRouter(routers, isa: isa), token = LearnedTokenRouter(routers)
                let record = RoutingRecord(batch: t.count, config: c, routerOutputs: width.outputs)
                routing = Routing(width: width, token: token, fast: false)
                outputs.append(("out", Tensor(try model.forward(x: x, t: t, y: y, routing: routing, record: record), shape: shape)))
                routing.fast = true
                outputs.append(("out_fast", Tensor(try model.forward(x: x, t: t, y: y, routing: routing), shape: shape)))
                outputs.append(("attn_masks", Tensor(record.attnMasks, shape: [t.count, c.depth, c.numHeads])))
                outputs.append(("mlp_masks", Tensor(record.mlpMasks, shape: [t.count, c.depth, c.numHeads])))
                outputs.append(("token_masks", Tensor(record.tokenMasks, shape: [t.count, c.depth, c.tokens])))
                outputs.append(("token_logits", Tensor(record.tokenLogits, shape: [t.count, c.depth, c.tokens])))
                outputs.append(("complete_out", Tensor(try model.forward(x: x, t: t, y: y), shape: shape)))
            } else {
                outputs.append(("out", Tensor(try model.forward(x: x, t: t, y: y), shape: shape)))
            }
            if io.contains("cfg/x") {
                let (cx, ct, cy) = try batchInputs("cfg/")
                let scale = try io.floats("cfg/scale", shape: [1])[0]
                guard scale.isFinite else { throw IOError(inputs, "tensor 'cfg/scale' is \(scale), not a finite number") }
                let guided = try model.forwardWithCFG(x: cx, t: ct, y: cy, scale: scale, channels: channels, routing: routing)
                outputs.append(("cfg/out", Tensor(guided, shape: [ct.count, c.outChannels, c.inputSize, c.inputSize])))
            }
            for (name, tensor) in outputs {
                try FiniteCheck.require(tensor.floats(), "output '\(name)'",
                                        hint: "the weights or the inputs hold NaN or infinity, or make the model overflow; nothing was written")
            }
            try SafeTensorsWriter.write(outputs, metadata: ["config": c.json.serialized(), "weights": weights], to: out)
            print("wrote \(outputs.map { "\($0.0) \($0.1.shape)" }.joined(separator: ", ")) to \(out)")
        }
    }
}
