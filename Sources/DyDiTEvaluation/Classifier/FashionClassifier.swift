import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import Foundation

/// The classifier's weights and forward pass (see `ClassifierArchitecture`).
///
/// Weights are held in the layout the GEMMs want — convolutions as `[out, (ky, kx, c)]`, `fc1`
/// with its inputs in NHWC order `(y, x, c)` — and converted from and to PyTorch's layout
/// (`[out, in, 3, 3]`, flatten of NCHW) only when read or written, so the file on disk is a
/// plain PyTorch state dict of the equivalent `nn.Module`.
public final class FashionClassifier {
    public let architecture: ClassifierArchitecture
    public let parameters: ParameterSet
    public let ctx: ComputeContext
    /// A fingerprint of the weights (hex), the key of cached reference features.
    public private(set) lazy var fingerprint: String = ContentHash.hex(of: parameters)

    public init(architecture: ClassifierArchitecture = ClassifierArchitecture(), parameters: ParameterSet? = nil, ctx: ComputeContext) {
        self.architecture = architecture
        self.parameters = parameters ?? Self.makeParameters(architecture)
        self.ctx = ctx
    }

    /// The parameter set in compute layout (names as the state dict's; the shapes of the
    /// GEMM operands).
    static func makeParameters(_ a: ClassifierArchitecture) -> ParameterSet {
        ParameterSet(layout: a.stateDictLayout.map { entry in
            let shape = entry.shape.count == 4 ? [entry.shape[0], entry.shape[1] * 9] : entry.shape
            return (entry.name, shape, true)
        })
    }

    /// He-normal weights (ReLU layers) and zero biases, from `seed`.
    public static func initialized(_ a: ClassifierArchitecture = ClassifierArchitecture(), seed: UInt64, ctx: ComputeContext) -> FashionClassifier {
        let model = FashionClassifier(architecture: a, ctx: ctx)
        var rng = RandomGenerator(seed: seed)
        for e in model.parameters.entries where e.name.hasSuffix(".weight") {
            let fanIn = e.shape[1]
            let scale = Float((2.0 / Double(fanIn)).squareRoot())
            model.parameters[e.name] = rng.normals(e.count).map { $0 * scale }
        }
        return model
    }

    // MARK: Files

    /// Reads a weights file written by `save` (or by PyTorch from the equivalent module).
    public static func load(_ path: String, ctx: ComputeContext) throws -> FashionClassifier {
        let file = try SafeTensorsFile(path: path)
        guard let text = file.metadata["classifier"] else {
            throw IOError(path, "has no metadata 'classifier': it is not a classifier weights file (train one with `dydit classifier train`)")
        }
        guard let a = ClassifierArchitecture(json: try JSONParser.parse(text, path: "\(path) metadata 'classifier'")) else {
            throw IOError(path, "metadata 'classifier' is not a classifier description: \(text)")
        }
        let model = FashionClassifier(architecture: a, ctx: ctx)
        for (name, shape) in a.stateDictLayout {
            let values = try file.floats(name, shape: shape)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw IOError(path, "tensor '\(name)' holds a non-finite value at element \(bad)")
            }
            model.parameters[name] = toCompute(values, name: name, shape: shape, a)
        }
        return model
    }

    /// `set` (these parameters, or gradients in their layout) in PyTorch's layout, by name.
    public func stateDict(_ set: ParameterSet? = nil) -> [String: [Float]] {
        let source = set ?? parameters
        var out: [String: [Float]] = [:]
        for (name, shape) in architecture.stateDictLayout {
            out[name] = Self.toStateDict(source[name], name: name, shape: shape, architecture)
        }
        return out
    }

    /// Writes the weights as F32 safetensors in PyTorch's layout, the architecture in metadata.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        let dict = stateDict()
        let tensors = architecture.stateDictLayout.map { (name, shape) in (name, Tensor(dict[name]!, shape: shape)) }
        var meta = metadata
        meta["classifier"] = architecture.json.serialized()
        meta["input"] = "\(architecture.inputSize)x\(architecture.inputSize)x\(architecture.inChannels) NCHW in [-1, 1] (pixel/127.5 - 1)"
        meta["features"] = "fc1 after ReLU (\(architecture.featureSize))"
        try SafeTensorsWriter.write(tensors, metadata: meta, to: path)
    }

    /// PyTorch layout → compute layout.
    static func toCompute(_ v: [Float], name: String, shape: [Int], _ a: ClassifierArchitecture) -> [Float] {
        if shape.count == 4 {  // [o, c, 3, 3] → [o, (ky, kx, c)]
            let (o, c) = (shape[0], shape[1])
            var out = [Float](repeating: 0, count: v.count)
            for i in 0..<o { for ch in 0..<c { for k in 0..<9 { out[(i * 9 + k) * c + ch] = v[(i * c + ch) * 9 + k] } } }
            return out
        }
        if name == "fc1.weight" { return permuteFlatten(v, rows: shape[0], a, toNHWC: true) }
        return v
    }

    /// Compute layout → PyTorch layout.
    static func toStateDict(_ v: [Float], name: String, shape: [Int], _ a: ClassifierArchitecture) -> [Float] {
        if shape.count == 4 {
            let (o, c) = (shape[0], shape[1])
            var out = [Float](repeating: 0, count: v.count)
            for i in 0..<o { for ch in 0..<c { for k in 0..<9 { out[(i * c + ch) * 9 + k] = v[(i * 9 + k) * c + ch] } } }
            return out
        }
        if name == "fc1.weight" { return permuteFlatten(v, rows: shape[0], a, toNHWC: false) }
        return v
    }

    /// fc1's input order: NCHW's `(c, y, x)` ↔ NHWC's `(y, x, c)`.
    static func permuteFlatten(_ v: [Float], rows: Int, _ a: ClassifierArchitecture, toNHWC: Bool) -> [Float] {
        let s = a.size(after: a.convs.count - 1), c = a.convs.last!.outChannels, k = s * s * c
        var out = [Float](repeating: 0, count: v.count)
        for r in 0..<rows {
            for ch in 0..<c {
                for p in 0..<(s * s) {
                    let nchw = r * k + ch * s * s + p, nhwc = r * k + p * c + ch
                    if toNHWC { out[nhwc] = v[nchw] } else { out[nchw] = v[nhwc] }
                }
            }
        }
        return out
    }

    // MARK: Forward

    /// Features (`[n, featureSize]`) and logits (`[n, numClasses]`) of `images`
    /// (`[n, inputSize, inputSize]` in [-1, 1], one channel), in batches of `batch`.
    public func evaluate(_ images: [Float], count n: Int, batch: Int = 250) -> (features: [Float], logits: [Float]) {
        let a = architecture, size = a.inputSize * a.inputSize * a.inChannels
        precondition(images.count == n * size, "\(images.count) values for \(n) images of \(size)")
        var features = [Float](repeating: 0, count: n * a.featureSize)
        var logits = [Float](repeating: 0, count: n * a.numClasses)
        let ws = ClassifierWorkspace(a, capacity: min(batch, max(n, 1)))
        images.withUnsafeBufferPointer { x in
            for start in stride(from: 0, to: n, by: ws.capacity) {
                let b = min(ws.capacity, n - start)
                forward(x.baseAddress! + start * size, batch: b, ws)
                features.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: start * a.featureSize).update(from: ws.features.pointer, count: b * a.featureSize) }
                logits.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: start * a.numClasses).update(from: ws.logits.pointer, count: b * a.numClasses) }
            }
        }
        return (features, logits)
    }

    /// One batch through every layer, keeping what the backward pass needs in `ws`.
    func forward(_ x: UnsafePointer<Float>, batch: Int, _ ws: ClassifierWorkspace) {
        let a = architecture, p = parameters
        var input = x, size = a.inputSize
        for (i, c) in a.convs.enumerated() {
            let out = Im2Col.outputSize(size, stride: c.stride)
            Im2Col.expand(input, batch: batch, size: size, channels: c.inChannels, stride: c.stride, into: ws.cols[i].pointer, ctx: ctx)
            Gemm.run(GemmOperands(m: batch * out * out, n: c.outChannels, k: 9 * c.inChannels, a: ws.cols[i].pointer, lda: 9 * c.inChannels,
                                  b: p.pointer("conv\(i + 1).weight"), ldb: 9 * c.inChannels, bLayout: .rowsNK,
                                  c: ws.acts[i].pointer, ldc: c.outChannels, bias: p.pointer("conv\(i + 1).bias"), activation: .relu), ctx: ctx)
            input = UnsafePointer(ws.acts[i].pointer)
            size = out
        }
        let k = a.flattenedSize
        Gemm.run(GemmOperands(m: batch, n: a.featureSize, k: k, a: input, lda: k, b: p.pointer("fc1.weight"), ldb: k, bLayout: .rowsNK,
                              c: ws.features.pointer, ldc: a.featureSize, bias: p.pointer("fc1.bias"), activation: .relu), ctx: ctx)
        Gemm.run(GemmOperands(m: batch, n: a.numClasses, k: a.featureSize, a: ws.features.pointer, lda: a.featureSize,
                              b: p.pointer("fc2.weight"), ldb: a.featureSize, bLayout: .rowsNK,
                              c: ws.logits.pointer, ldc: a.numClasses, bias: p.pointer("fc2.bias")), ctx: ctx)
    }

    /// The predicted class of each row of `logits` (the first of equal maxima).
    public func predictions(_ logits: [Float]) -> [Int] {
        let k = architecture.numClasses
        return (0..<(logits.count / k)).map { i in
            var best = 0
            for j in 1..<k where logits[i * k + j] > logits[i * k + best] { best = j }
            return best
        }
    }
}
