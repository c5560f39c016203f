import DyDiTIO

/// The Fashion-MNIST feature extractor: a small CNN, whose penultimate layer (`fc1`'s ReLU
/// output) plays the role Inception's pool features play for FID.
///
/// Why a CNN and not a ViT from the DiT blocks: at 28×28 a four-layer CNN reaches the
/// accuracy goal in minutes of CPU time, its features are local and shift-tolerant (what a
/// distance between image distributions should look at), and it is an extractor unrelated to
/// the models it judges, as Inception is to the GANs FID judges.
///
/// Layers (3×3 convolutions with padding 1, ReLU after each):
/// `conv1 1→32` (28×28), `conv2 32→64 stride 2` (14×14), `conv3 64→64` (14×14),
/// `conv4 64→64 stride 2` (7×7), flatten (3136), `fc1 3136→256` + ReLU (the features),
/// `fc2 256→10` (the logits). About 0.94 M parameters, 13.7 M MACs per image.
public struct ClassifierArchitecture: Sendable, Equatable {
    public struct Conv: Sendable, Equatable {
        public let inChannels: Int
        public let outChannels: Int
        public let stride: Int
        public init(inChannels: Int, outChannels: Int, stride: Int) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.stride = stride
        }
    }

    public var inputSize = 28
    public var inChannels = 1
    public var convs: [Conv] = [Conv(inChannels: 1, outChannels: 32, stride: 1), Conv(inChannels: 32, outChannels: 64, stride: 2),
                                Conv(inChannels: 64, outChannels: 64, stride: 1), Conv(inChannels: 64, outChannels: 64, stride: 2)]
    public var featureSize = 256
    public var numClasses = 10

    public init() {}

    /// Spatial size after conv `i` (3×3, padding 1).
    public func size(after i: Int) -> Int {
        var s = inputSize
        for c in convs[0...i] { s = (s - 1) / c.stride + 1 }
        return s
    }

    public var flattenedSize: Int { size(after: convs.count - 1) * size(after: convs.count - 1) * convs.last!.outChannels }

    /// PyTorch state-dict names and shapes (`nn.Conv2d`'s `[out, in, 3, 3]`, `nn.Linear`'s
    /// `[out, in]`, fc1's inputs flattened channel-major as `torch.flatten` of NCHW does), so
    /// the weights file loads into the equivalent PyTorch model as it is.
    public var stateDictLayout: [(name: String, shape: [Int])] {
        var layout: [(String, [Int])] = []
        for (i, c) in convs.enumerated() {
            layout.append(("conv\(i + 1).weight", [c.outChannels, c.inChannels, 3, 3]))
            layout.append(("conv\(i + 1).bias", [c.outChannels]))
        }
        layout += [("fc1.weight", [featureSize, flattenedSize]), ("fc1.bias", [featureSize]),
                   ("fc2.weight", [numClasses, featureSize]), ("fc2.bias", [numClasses])]
        return layout
    }

    /// MACs of one image's forward.
    public var macs: Int {
        var total = 0
        for (i, c) in convs.enumerated() { total += size(after: i) * size(after: i) * 9 * c.inChannels * c.outChannels }
        return total + flattenedSize * featureSize + featureSize * numClasses
    }

    public var json: JSONValue {
        .object(JSONObject([
            ("input_size", .int(Int64(inputSize))), ("in_channels", .int(Int64(inChannels))),
            ("convs", .array(convs.map { .array([.int(Int64($0.inChannels)), .int(Int64($0.outChannels)), .int(Int64($0.stride))]) })),
            ("feature_size", .int(Int64(featureSize))), ("num_classes", .int(Int64(numClasses))),
        ]))
    }

    /// Reads `json` (metadata `classifier` of a weights file); nil when it is not this form.
    public init?(json: JSONValue) {
        func int(_ v: JSONValue?) -> Int? { v?.intValue.flatMap { Int(exactly: $0) } }
        guard case let .object(o) = json, let input = int(o["input_size"]), let channels = int(o["in_channels"]),
              let convs = o["convs"]?.arrayValue, let features = int(o["feature_size"]), let classes = int(o["num_classes"]),
              (1...256).contains(input), (1...4).contains(channels), (1...64).contains(convs.count), (1...4096).contains(features),
              (2...1000).contains(classes) else { return nil }
        var list: [Conv] = []
        for c in convs {
            guard let v = c.arrayValue, v.count == 3, let i = int(v[0]), let out = int(v[1]), let s = int(v[2]),
                  (1...1024).contains(i), (1...1024).contains(out), (1...2).contains(s) else { return nil }
            list.append(Conv(inChannels: i, outChannels: out, stride: s))
        }
        guard list.first?.inChannels == channels, zip(list, list.dropFirst()).allSatisfy({ $0.outChannels == $1.inChannels }) else { return nil }
        inputSize = input
        inChannels = channels
        self.convs = list
        featureSize = features
        numClasses = classes
    }
}
