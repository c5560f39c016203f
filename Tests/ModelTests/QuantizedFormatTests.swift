import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// `dydit quantize`'s file format: a quantized file must run exactly as its float source
/// quantized at load time, keep its weights in their stored precision, and refuse every
/// malformed variant with an error that names the tensor.
final class QuantizedFormatTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-quantized-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func quantized(_ ckpt: Checkpoint, _ plan: PrecisionPlan, name: String = "q.safetensors") throws -> String {
        var tensors = QuantizedFormat.tensors(ckpt.parameters, plan: plan)
        for name in ckpt.routerTensors { tensors.append((name, try ckpt.file.tensor(name))) }
        let path = "\(dir)/\(name)"
        try SafeTensorsWriter.write(tensors, metadata: ckpt.file.metadata.merging(QuantizedFormat.metadata(plan)) { $1 }, to: path)
        return path
    }

    func testQuantizedFilesRunBitIdenticallyToQuantizingAtLoad() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty)
        let plans = [PrecisionPlan(.fp16), PrecisionPlan(.int8), PrecisionPlan(.int8, fp32Layers: ["adaLN_modulation", "final_layer"]),
                     PrecisionPlan(.fp16, fp32Layers: ["mlp.fc2"])]
        for pair in pairs {
            let source = try Checkpoint(path: pair.weights)
            let io = try SafeTensorsFile(path: pair.io)
            let x = try io.tensor("x").floats(), t = try io.tensor("t").floats()
            let y = try io.tensor("y").integers().map { Int($0) }
            for plan in plans {
                let path = try quantized(source, plan)
                let ckpt = try Checkpoint(path: path)
                XCTAssertTrue(try XCTUnwrap(ckpt.quantization).sameLayers(as: plan))
                XCTAssertEqual(ckpt.isDyDiT, source.isDyDiT)
                let params = try ckpt.parameters(for: plan)
                // The quantized layers are held as stored, with no fp32 copy.
                for (layers, precision) in plan.linearLayers(source.config) {
                    for layer in layers {
                        let name = layer + ".weight"
                        XCTAssertEqual(params.stored[name]?.precision ?? .fp32, precision, "\(pair.name) \(plan) \(name)")
                        XCTAssertEqual(params.tensors[name] == nil, precision != .fp32, "\(pair.name) \(plan) \(name)")
                    }
                }
                XCTAssertEqual(params.parameterCount, source.parameters.parameterCount)
                for isa in CPUFeatures.current.supported {
                    coverage.ran(isa.rawValue)
                    let ctx = try ComputeContext(threads: 2, isa: isa)
                    let fromFile = DiT(params, ctx: ctx, precision: plan)
                    let atLoad = DiT(source.parameters, ctx: ctx, precision: plan)
                    XCTAssertEqual(fromFile.weightBytes, atLoad.weightBytes)
                    XCTAssertEqual(try fromFile.forward(x: x, t: t, y: y), try atLoad.forward(x: x, t: t, y: y), "\(pair.name) [\(isa)] \(plan)")
                    if let routers = ckpt.routers {
                        let routing = Routing(width: LearnedWidthRouter(routers, isa: isa), token: LearnedTokenRouter(routers), fast: true)
                        XCTAssertEqual(try fromFile.forward(x: x, t: t, y: y, routing: routing),
                                       try atLoad.forward(x: x, t: t, y: y, routing: routing), "\(pair.name) [\(isa)] \(plan) fast path")
                    }
                }
            }
            // int8 keeps a quarter of the bytes of every quantized weight (plus one scale per row).
            let int8File = try SafeTensorsFile(path: try quantized(source, PrecisionPlan(.int8), name: "size.safetensors"))
            let qkv = "blocks.0.attn.qkv.weight"
            XCTAssertEqual(int8File.entries[qkv]!.end - int8File.entries[qkv]!.begin,
                           (source.file.entries[qkv]!.end - source.file.entries[qkv]!.begin) / source.file.entries[qkv]!.dtype.byteSize)
        }
    }

    /// Rewrites `path` with `change` applied to its tensors and metadata.
    func tampered(_ path: String, _ change: (inout [(name: String, tensor: Tensor)], inout [String: String]) -> Void) throws -> String {
        let file = try SafeTensorsFile(path: path)
        var tensors: [(name: String, tensor: Tensor)] = try file.names.map { ($0, try file.tensor($0)) }
        var metadata = file.metadata
        change(&tensors, &metadata)
        let out = "\(dir)/tampered-\(UUID().uuidString).safetensors"
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: out)
        return out
    }

    func assertRefused(_ path: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint(path: path), line: line) { error in
            for word in words { XCTAssertTrue("\(error)".contains(word), "'\(error)' does not mention '\(word)'", line: line) }
        }
    }

    func testMalformedQuantizedFilesAreRefusedByName() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 5)
        let float = "\(dir)/float.safetensors"
        try DiTParameters.initialized(c, seed: 4, .random).save(to: float)
        let good = try quantized(try Checkpoint(path: float), PrecisionPlan(.int8))
        XCTAssertNoThrow(try Checkpoint(path: good))
        let qkv = "blocks.1.attn.qkv.weight", scale = qkv + QuantizedFormat.scaleSuffix

        assertRefused(try tampered(good) { t, _ in t.removeAll { $0.name == scale } }, mentioning: ["missing scales", qkv, scale])
        assertRefused(try tampered(good) { t, _ in
            t = t.map { $0.name == scale ? ($0.name, Tensor([Float](repeating: 0.01, count: 3 * 32 - 1), shape: [3 * 32 - 1])) : $0 }
        }, mentioning: [scale, "F32 [96]"])
        assertRefused(try tampered(good) { t, _ in
            t = t.map { $0.name == scale ? ($0.name, Tensor([Float16](repeating: 0.01, count: 96), shape: [96])) : $0 }
        }, mentioning: [scale, "F16"])
        assertRefused(try tampered(good) { t, _ in
            t = t.map { $0.name == scale ? ($0.name, Tensor([Float](repeating: -0.01, count: 96), shape: [96])) : $0 }
        }, mentioning: ["scale 0", qkv])
        assertRefused(try tampered(good) { t, _ in
            t = t.map { $0.name == qkv ? ($0.name, Tensor([Int8](repeating: -128, count: 96 * 32), shape: [96, 32])) : $0 }
        }, mentioning: [qkv, "-128"])
        // A layer the plan quantizes, stored as floats (and its scales left over).
        assertRefused(try tampered(good) { t, _ in
            t = t.map { $0.name == qkv ? ($0.name, Tensor([Float](repeating: 0, count: 96 * 32), shape: [96, 32])) : $0 }
        }, mentioning: [qkv, "F32", "int8 (I8)"])
        // int8 values without the metadata that says how they were made.
        assertRefused(try tampered(good) { _, m in m[QuantizedFormat.precisionKey] = nil }, mentioning: ["I8", QuantizedFormat.precisionKey])
        assertRefused(try tampered(good) { _, m in m[QuantizedFormat.precisionKey] = "int4" }, mentioning: ["int4", "fp16 or int8"])
        assertRefused(try tampered(good) { _, m in m[QuantizedFormat.versionKey] = "2" }, mentioning: ["'2'", "version 1"])
        assertRefused(try tampered(good) { _, m in m[QuantizedFormat.fp32LayersKey] = "attn.qkv,mlp" }, mentioning: ["'mlp'", "not a layer"])
        // Scales with no int8 layer to go with them are extra tensors.
        assertRefused(try tampered(good) { t, _ in t.append(("y_embedder.embedding_table.weight_scale", Tensor([Float](repeating: 1, count: 6), shape: [6]))) },
                      mentioning: ["y_embedder.embedding_table.weight_scale"])

        // A quantized file runs only in its own plan, and cannot be trained.
        let ckpt = try Checkpoint(path: good)
        XCTAssertThrowsError(try ckpt.parameters(for: PrecisionPlan(.fp16))) { XCTAssertTrue("\($0)".contains("runs only in that precision")) }
        XCTAssertThrowsError(try ckpt.parameters(for: PrecisionPlan(.int8, fp32Layers: ["final_layer"])))
        XCTAssertNoThrow(try ckpt.parameters(for: PrecisionPlan(.int8)))
        XCTAssertEqual(ckpt.plan(asking: nil), PrecisionPlan(.int8))
        XCTAssertEqual(try Checkpoint(path: float).plan(asking: nil), .fp32)
    }
}
