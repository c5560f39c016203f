/// Static depth pruning: a DiT keeping some of its blocks (their weights as they are, renamed
/// `blocks.0 …`), for fine-tuning at a matched MAC budget beside DyDiT (issue 17's static
/// pruning). Dropping half of the blocks halves the blocks' MACs, the FLOPs ratio of DyDiT at
/// λ = 0.5.
public enum BlockPruning {
    /// The parameters of `params` with only `kept` blocks (ascending, distinct, in range).
    public static func keep(_ kept: [Int], of params: DiTParameters) throws -> DiTParameters {
        let c = params.config
        guard !kept.isEmpty, kept == kept.sorted(), Set(kept).count == kept.count, kept.allSatisfy({ (0..<c.depth).contains($0) }) else {
            throw ModelError.badConfig("pruning", "blocks to keep \(kept) must be distinct, ascending and within 0..<\(c.depth)")
        }
        guard params.stored.isEmpty else {
            throw ModelError.badConfig("pruning", "the weights are quantized (dydit quantize); prune the float file they were made from")
        }
        var config = c
        config.depth = kept.count
        var tensors: [String: [Float]] = [:]
        for (name, values) in params.tensors {
            if name.hasPrefix("blocks.") {
                let parts = name.split(separator: ".", maxSplits: 2)
                guard parts.count == 3, let old = Int(parts[1]) else { continue }
                if let new = kept.firstIndex(of: old) { tensors["blocks.\(new).\(parts[2])"] = values }
            } else {
                tensors[name] = values
            }
        }
        return DiTParameters(config: config, tensors: tensors, hasNullClass: params.hasNullClass)
    }
}
