import DyDiTIO
import DyDiTModels
import ReferenceSupport
import XCTest

final class DiTConfigTests: XCTestCase {
    /// METHOD.md's table: trainable parameters (p = 2, 32×32×4 latents, 1000 classes, learn_sigma) and
    /// dense GMACs per forward. MACs: per block N·D·3D + N·D·D + 2·N²·D (attention) +
    /// 2·N·D·4D (MLP) + 6D² (adaLN), plus patch embed N·D·C·p², timestep MLP 256·D + D²,
    /// final adaLN 2D² and final linear N·D·p²·2C.
    func testTableFigures() throws {
        let expected: [(String, Double, Double)] = [
            ("DiT-S/2", 32.9e6, 6.06), ("DiT-B/2", 130.3e6, 23.0), ("DiT-L/2", 457.8e6, 80.7), ("DiT-XL/2", 674.8e6, 118.6),
        ]
        for (name, params, gmacs) in expected {
            let c = try DiTConfig.named(name)
            // The table counts trainable parameters: pos_embed is a fixed buffer (requires_grad=False).
            let count = DiTParameters.shapes(c).filter { $0.name != "pos_embed" }.reduce(0) { $0 + $1.shape.reduce(1, *) }
            assertClose(Double(count), params, absolute: 0.05e6, "\(name) parameters")
            let macs = MACs(c)
            assertClose(macs.total / 1e9, gmacs, absolute: 0.05, "\(name) GMACs")
            print(String(format: "%@: %.1f M parameters, %.3f GMACs (attention %.3f, mlp %.3f, rest %.3f)", name,
                         Double(count) / 1e6, macs.total / 1e9, macs.attention / 1e9, macs.mlp / 1e9,
                         (macs.total - macs.blocks) / 1e9))
        }
    }

    func testNamedConfigs() throws {
        let xl4 = try DiTConfig.named("dit-xl/4", inputSize: 64, inChannels: 3, numClasses: 10)
        XCTAssertEqual([xl4.depth, xl4.hiddenSize, xl4.numHeads, xl4.patchSize, xl4.tokens], [28, 1152, 16, 4, 256])
        XCTAssertEqual(try DiTConfig.named("DyDiT-S/8").patchSize, 8)
        XCTAssertEqual(DiTConfig.modelNames.count, 12)
        XCTAssertThrowsError(try DiTConfig.named("DiT-XS/2")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("did you mean DiT-S/2") && text.contains("DiT-XL/8"), text)
        }
    }

    func testConfigErrorsNameTheProblem() {
        func check(_ json: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try DiTConfig(json: try JSONParser.parse(json), source: "w.safetensors"), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("w.safetensors: ") && text.contains(fragment), text, line: line)
            }
        }
        let good = #""input_size": 8, "patch_size": 2, "in_channels": 4, "hidden_size": 64, "depth": 2, "num_classes": 10, "learn_sigma": true"#
        XCTAssertNoThrow(try DiTConfig(json: try JSONParser.parse("{\(good), \"num_heads\": 4}"), source: "w"))
        check("{\(good)}", "no 'num_heads'")
        check("{\(good), \"num_heads\": 3}", "not a multiple of num_heads")
        check("{\(good), \"num_heads\": \"4\"}", "'num_heads' is \"4\"")
        check("{\(good), \"num_heads\": 4, \"heads\": 4}", "unknown key 'heads'")
        check("{\(good), \"num_heads\": 4, \"mlp_ratio\": 4.01}", "mlp_ratio")
        check(#"{"input_size": 9, "patch_size": 2, "in_channels": 4, "hidden_size": 64, "depth": 2, "num_classes": 10, "learn_sigma": true, "num_heads": 4}"#,
              "not a multiple of patch_size")
        check("[1]", "expected an object")
    }

    /// The reference weights store DiT's fixed sin-cos table; ours must equal it, for every
    /// weights file of the reference folder (`DYDIT_REFERENCE_DIR`).
    func testPositionEmbeddingMatchesStoredOne() throws {
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        for pair in pairs {
            let file = try SafeTensorsFile(path: pair.weights)
            let c = try DiTConfig(file: file)
            let stored = try file.tensor("pos_embed").floats()
            let ours = PositionEmbedding.sinCos2D(hidden: c.hiddenSize, grid: c.gridSize)
            assertAllClose(ours, stored, absolute: 1e-6, "\(pair.name) pos_embed")
        }
    }
}

final class DynamicMACsTests: XCTestCase {
    /// METHOD.md §5 by hand: with half the heads, all MLP groups and half the tokens in every
    /// block, `F_b = Σ_l (½·attn + 1·½·mlp)`, so the ratio is ½; the full-model count replaces
    /// the dense blocks by that and adds nothing else (random routers cost no MACs).
    func testRatioAndFullModelCount() throws {
        let c = try DiTConfig.named("DiT-S/2")
        let r = RoutingRecord(batch: 2, config: c, routerOutputs: c.numHeads - 1)
        for i in r.attnMasks.indices { r.attnMasks[i] = i % 2 == 0 ? 1 : 0 }
        for i in r.tokenMasks.indices { r.tokenMasks[i] = i % 2 == 0 ? 1 : 0 }
        let d = DynamicMACs(config: c, record: r, widthRouted: false, tokenRouted: false)
        assertClose(d.ratio, 0.5, absolute: 1e-12, "ratio")
        assertClose(d.total, d.dense.total - d.dense.blocks / 2, absolute: 1, "total")
        assertClose(d.attentionPerBlock[3], MACs.attentionPerBlock(c) / 2, absolute: 1, "attention of block 3")
        assertClose(d.mlpPerBlock[3], MACs.mlpPerBlock(c) / 2, absolute: 1, "MLP of block 3")
        // Learned routers add their own work: 2·D·(NH−1) per block on te, and D·D/16 + D/16 per token.
        let routed = DynamicMACs(config: c, record: r, widthRouted: true, tokenRouted: true)
        XCTAssertEqual(routed.routers, 12 * (2 * 384 * 5 + 256 * (384 * 24 + 24)))
    }
}
