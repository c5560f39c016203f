import DyDiTKernels

/// A DiT's weights packed for one instruction set: written once at load, only read after, so
/// one `DiTWeights` can back any number of runners (`DiT`) on any threads.
public final class DiTWeights: @unchecked Sendable {
    // @unchecked: the packed panels and embedding tables are buffers written only in `init`.
    public let config: DiTConfig
    public let isa: ISA
    public let hasNullClass: Bool
    public let precision: PrecisionPlan

    struct Block: Sendable {
        let qkv, proj, fc1, fc2: PackedLinear
    }

    let patchEmbed: PackedLinear
    let posEmbed: AlignedBuffer<Float>
    let timeIn, timeOut: PackedLinear
    let labelTable: AlignedBuffer<Float>
    let blocks: [Block]
    /// Every block's `adaLN_modulation.1` then the final layer's, stacked: `[(6·depth + 2)·D, D]`.
    let modulation: PackedLinear
    let finalLinear: PackedLinear

    /// - Parameter precision: how each linear layer's weights are stored (biases, embeddings
    ///   and all arithmetic stay fp32).
    public init(_ p: DiTParameters, isa: ISA, precision: PrecisionPlan = .fp32) {
        let c = p.config, d = c.hiddenSize
        config = c
        self.isa = isa
        self.precision = precision
        hasNullClass = p.hasNullClass
        let layerPrecision = Dictionary(uniqueKeysWithValues: precision.linearLayers(c).map { ($0.names.joined(separator: "+"), $0.precision) })
        func linear(_ names: [String], out: Int, in k: Int) -> PackedLinear {
            PackedLinear(weight: p.linearWeight(names), bias: names.flatMap { p[$0 + ".bias"] }, out: out, in: k, isa: isa,
                         precision: layerPrecision[names.joined(separator: "+")]!)
        }
        func linear(_ prefix: String, out: Int, in k: Int) -> PackedLinear { linear([prefix], out: out, in: k) }
        typealias L = DiTLayerNames
        patchEmbed = linear(L.patchEmbed, out: d, in: c.patchDim)
        posEmbed = Self.buffer(p[L.posEmbed])
        timeIn = linear(L.timeIn, out: d, in: DiTConfig.frequencyDim)
        timeOut = linear(L.timeOut, out: d, in: d)
        labelTable = Self.buffer(p[L.labelTable])
        blocks = (0..<c.depth).map { i in
            let b = L.block(i)
            return Block(qkv: linear(b.qkv, out: 3 * d, in: d), proj: linear(b.proj, out: d, in: d),
                         fc1: linear(b.fc1, out: c.mlpHidden, in: d), fc2: linear(b.fc2, out: d, in: c.mlpHidden))
        }
        modulation = linear(L.stackedModulations(depth: c.depth), out: (6 * c.depth + 2) * d, in: d)
        finalLinear = linear(L.finalLinear, out: c.finalDim, in: d)
    }

    static func buffer(_ values: [Float]) -> AlignedBuffer<Float> {
        let b = AlignedBuffer<Float>(count: values.count)
        values.withUnsafeBufferPointer { b.pointer.update(from: $0.baseAddress!, count: values.count) }
        return b
    }

    /// Bytes of the blocks' linear layers (what the fast path slices).
    var blockBytes: Int { blocks.reduce(0) { $0 + $1.qkv.byteCount + $1.proj.byteCount + $1.fc1.byteCount + $1.fc2.byteCount } }

    /// Bytes of all packed weights and tables.
    public var byteCount: Int {
        let linears = [patchEmbed, timeIn, timeOut, modulation, finalLinear] + blocks.flatMap { [$0.qkv, $0.proj, $0.fc1, $0.fc2] }
        return linears.reduce(0) { $0 + $1.byteCount } + posEmbed.byteCount + labelTable.byteCount
    }
}
