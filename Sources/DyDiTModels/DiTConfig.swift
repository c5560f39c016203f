import DyDiTIO
import Foundation

/// The sizes of a DiT (facebookresearch/DiT `DiT(...)` arguments).
public struct DiTConfig: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var inputSize: Int
    public var patchSize: Int
    public var inChannels: Int
    public var hiddenSize: Int
    public var depth: Int
    public var numHeads: Int
    public var numClasses: Int
    public var learnSigma: Bool
    public var mlpRatio: Double

    public init(inputSize: Int = 32, patchSize: Int = 2, inChannels: Int = 4, hiddenSize: Int, depth: Int,
                numHeads: Int, numClasses: Int = 1000, learnSigma: Bool = true, mlpRatio: Double = 4) {
        self.inputSize = inputSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.hiddenSize = hiddenSize
        self.depth = depth
        self.numHeads = numHeads
        self.numClasses = numClasses
        self.learnSigma = learnSigma
        self.mlpRatio = mlpRatio
    }

    public var outChannels: Int { learnSigma ? 2 * inChannels : inChannels }
    public var gridSize: Int { inputSize / patchSize }
    public var tokens: Int { gridSize * gridSize }
    public var headDim: Int { hiddenSize / numHeads }
    public var mlpHidden: Int { Int(Double(hiddenSize) * mlpRatio) }
    public var patchDim: Int { inChannels * patchSize * patchSize }
    /// Width of a final-layer token: `p·p·outC`.
    public var finalDim: Int { patchSize * patchSize * outChannels }
    /// Floats in one input image `[C, H, W]`.
    public var imageSize: Int { inChannels * inputSize * inputSize }
    /// Sinusoidal frequencies of the timestep embedding (DiT's `frequency_embedding_size`).
    public static let frequencyDim = 256

    public var description: String {
        "input \(inputSize)×\(inputSize)×\(inChannels), patch \(patchSize) (\(tokens) tokens), hidden \(hiddenSize), depth \(depth), heads \(numHeads), mlp ×\(mlpRatio), classes \(numClasses), learn_sigma \(learnSigma)"
    }

    /// Upper bounds far past any real DiT (XL is hidden 1152, depth 28, 1000 classes): they
    /// keep every size product of the model in an Int, so a hostile config is an error
    /// instead of an overflow trap. Whether a config fits in memory is `MemoryEstimate`'s call.
    public static let limits: [(name: String, max: Int)] = [
        ("input_size", 1 << 16), ("patch_size", 1 << 16), ("in_channels", 1 << 12), ("hidden_size", 1 << 20),
        ("depth", 1 << 14), ("num_heads", 1 << 20), ("num_classes", 1 << 24),
    ]
    /// The largest MLP width (`mlp_ratio × hidden_size`).
    public static let maxMLPHidden = 1 << 24

    /// What is wrong with these sizes, if anything.
    public func problems() -> [String] {
        var p: [String] = []
        let values = [inputSize, patchSize, inChannels, hiddenSize, depth, numHeads, numClasses]
        for ((name, limit), v) in zip(Self.limits, values) {
            if v < 1 { p.append("\(name) must be at least 1 (got \(v))") }
            if v > limit { p.append("\(name) \(v) is over the limit of \(limit)") }
        }
        if !p.isEmpty { return p }
        if inputSize % patchSize != 0 { p.append("input_size \(inputSize) is not a multiple of patch_size \(patchSize)") }
        if hiddenSize % numHeads != 0 { p.append("hidden_size \(hiddenSize) is not a multiple of num_heads \(numHeads)") }
        if hiddenSize % 4 != 0 { p.append("hidden_size \(hiddenSize) must be a multiple of 4 (2-D sin-cos position embedding)") }
        // Checked in Double before `mlpHidden` converts to Int (1e19 would trap there).
        let width = Double(hiddenSize) * mlpRatio
        if !(mlpRatio > 0) || !width.isFinite || width > Double(Self.maxMLPHidden) {
            p.append("mlp_ratio \(mlpRatio) must be a positive number with mlp_ratio × hidden_size at most \(Self.maxMLPHidden)")
        } else if Double(mlpHidden) != width {
            p.append("mlp_ratio \(mlpRatio) × hidden_size \(hiddenSize) is not a whole number of channels")
        }
        return p
    }

    // MARK: Named configs

    /// DiT's table: depth, hidden size, heads.
    public static let families: [(name: String, depth: Int, hidden: Int, heads: Int)] = [
        ("S", 12, 384, 6), ("B", 12, 768, 12), ("L", 24, 1024, 16), ("XL", 28, 1152, 16),
    ]

    public static var modelNames: [String] {
        families.flatMap { f in [2, 4, 8].map { "DiT-\(f.name)/\($0)" } }
    }

    /// `DiT-S/2`, `DiT-XL/4`, … (case-insensitive, `DyDiT-` accepted) with the given image
    /// size, channels and classes; ImageNet-256 latents by default.
    public static func named(_ name: String, inputSize: Int = 32, inChannels: Int = 4, numClasses: Int = 1000,
                             learnSigma: Bool = true) throws -> DiTConfig {
        let upper = name.uppercased().replacingOccurrences(of: "DYDIT-", with: "DIT-")
        for f in families {
            for p in [2, 4, 8] where upper == "DIT-\(f.name)/\(p)" {
                return DiTConfig(inputSize: inputSize, patchSize: p, inChannels: inChannels, hiddenSize: f.hidden,
                                 depth: f.depth, numHeads: f.heads, numClasses: numClasses, learnSigma: learnSigma)
            }
        }
        throw ModelError.unknownModel(name, suggestion: closest(to: name, in: modelNames))
    }

    // MARK: JSON (`config` metadata of safetensors files)

    public var json: JSONValue {
        .object(JSONObject([
            ("input_size", .int(Int64(inputSize))), ("patch_size", .int(Int64(patchSize))),
            ("in_channels", .int(Int64(inChannels))), ("hidden_size", .int(Int64(hiddenSize))),
            ("depth", .int(Int64(depth))), ("num_heads", .int(Int64(numHeads))),
            ("num_classes", .int(Int64(numClasses))), ("learn_sigma", .bool(learnSigma)),
            ("mlp_ratio", .double(mlpRatio)),
        ]))
    }

    /// Reads the `config` metadata written by the reference code and our converter.
    /// - Parameter source: names the file in errors.
    public init(json: JSONValue, source: String) throws {
        guard case let .object(o) = json else { throw ModelError.badConfig(source, "config is \(json.typeName), expected an object") }
        func int(_ key: String) throws -> Int {
            guard let v = o[key] else { throw ModelError.badConfig(source, "config has no '\(key)'") }
            guard let i = v.intValue, i >= 0, i < Int64(Int32.max) else {
                throw ModelError.badConfig(source, "config '\(key)' is \(v.serialized()), expected a non-negative integer")
            }
            return Int(i)
        }
        let known: Set = ["input_size", "patch_size", "in_channels", "hidden_size", "depth", "num_heads",
                          "num_classes", "learn_sigma", "mlp_ratio", "name", "class_dropout_prob"]
        let learn: Bool
        switch o["learn_sigma"] {
        case let .bool(b)?: learn = b
        case nil: throw ModelError.badConfig(source, "config has no 'learn_sigma'")
        case let v?: throw ModelError.badConfig(source, "config 'learn_sigma' is \(v.serialized()), expected true or false")
        }
        var ratio = 4.0
        if let v = o["mlp_ratio"] {
            guard let r = v.doubleValue else { throw ModelError.badConfig(source, "config 'mlp_ratio' is \(v.serialized()), expected a number") }
            ratio = r
        }
        self.init(inputSize: try int("input_size"), patchSize: try int("patch_size"), inChannels: try int("in_channels"),
                  hiddenSize: try int("hidden_size"), depth: try int("depth"), numHeads: try int("num_heads"),
                  numClasses: try int("num_classes"), learnSigma: learn, mlpRatio: ratio)
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw ModelError.badConfig(source, "config has an unknown key '\(unknown)'; known: \(known.sorted().joined(separator: ", "))")
        }
        if let problem = problems().first { throw ModelError.badConfig(source, problem) }
    }

    /// The config stored in a weights file's metadata.
    public init(file: SafeTensorsFile) throws {
        guard let text = file.metadata["config"] else {
            throw ModelError.badConfig(file.path, "no 'config' in the metadata (a bare state dict, e.g. from safetensors.torch.save_file?): python3 scripts/convert_checkpoint.py \(file.path) -o model.safetensors infers the config from the shapes and records it; it converts official .pt checkpoints the same way")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(text, path: "\(file.path) metadata 'config'") } catch {
            throw ModelError.badConfig(file.path, "metadata 'config' is not valid JSON: \(error)")
        }
        try self.init(json: value, source: file.path)
    }
}

