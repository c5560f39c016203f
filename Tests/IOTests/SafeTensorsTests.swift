import XCTest
import DyDiTIO
import ReferenceSupport

final class SafeTensorsTests: TemporaryDirectoryTestCase {
    func testRoundTripEveryDType() throws {
        let tensors: [(String, Tensor)] = [
            ("f32", Tensor([1.5, -2, 3.25, 0, 7, 8], shape: [2, 3])),
            ("f16", Tensor([Float16(0.5), -1, 65504], shape: [3])),
            ("i64", Tensor([Int64.min, -1, 0, Int64.max], shape: [2, 2])),
            ("f64", Tensor([Double.pi], shape: [1])),
            ("scalar", Tensor([42.0 as Float], shape: [])),
            ("empty", Tensor([Float](), shape: [0, 5])),
            ("bf16", [UInt16(0x3FC0), 0xC000].withUnsafeBytes { Tensor(dtype: .bf16, shape: [2], bytes: $0) }),
            ("i32", [Int32(-7), 9].withUnsafeBytes { Tensor(dtype: .i32, shape: [2], bytes: $0) }),
            ("i8", [Int8(-128), 127, 3].withUnsafeBytes { Tensor(dtype: .i8, shape: [3], bytes: $0) }),
        ]
        try SafeTensorsWriter.write(tensors.map { ($0.0, $0.1) }, metadata: ["config": "{\"a\": 1}", "note": "é"], to: path("t.safetensors"))
        let file = try SafeTensorsFile(path: path("t.safetensors"))
        XCTAssertEqual(file.metadata, ["config": "{\"a\": 1}", "note": "é"])
        XCTAssertEqual(Set(file.names), Set(tensors.map(\.0)))
        XCTAssertEqual(try file.tensor("f32").floats(), [1.5, -2, 3.25, 0, 7, 8])
        XCTAssertEqual(try file.tensor("f32").shape, [2, 3])
        XCTAssertEqual(try file.tensor("f16").floats(), [0.5, -1, 65504])
        XCTAssertEqual(try file.tensor("i64").integers(), [Int64.min, -1, 0, Int64.max])
        XCTAssertEqual(try file.tensor("f64").doubles(), [Double.pi])
        XCTAssertEqual(try file.tensor("scalar").floats(), [42])
        XCTAssertEqual(try file.tensor("empty").count, 0)
        XCTAssertEqual(try file.tensor("bf16").floats(), [1.5, -2])
        XCTAssertEqual(try file.tensor("i32").integers(), [-7, 9])
        XCTAssertEqual(try file.tensor("i8").integers(), [-128, 127, 3])
        // Data section: wider dtypes first, so every element is naturally aligned.
        let header = try file.tensor("f64")
        XCTAssertEqual(file.entries["f64"]!.begin % 8, 0, "\(header)")
        XCTAssertEqual(files(), ["t.safetensors"], "no temporary file left behind")
    }

    /// Every weights/io pair of the reference folder (`DYDIT_REFERENCE_DIR`, whatever its
    /// files are called): the config in the metadata, `pos_embed [1, N, D]` as it implies,
    /// and io inputs shaped for it.
    func testReadsReferenceFiles() throws {
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        for pair in pairs {
            let file = try SafeTensorsFile(path: pair.weights)
            let text = try XCTUnwrap(file.metadata["config"], "\(pair.name): no 'config' metadata")
            let config = try JSONParser.parse(text)
            func int(_ key: String) throws -> Int {
                Int(try XCTUnwrap(config[key]?.intValue, "\(pair.name): config has no integer '\(key)'"))
            }
            let grid = try int("input_size") / int("patch_size")
            XCTAssertEqual(try file.tensor("pos_embed").shape, [1, grid * grid, try int("hidden_size")], pair.name)
            let io = try SafeTensorsFile(path: pair.io)
            let x = try io.tensor("x").shape
            XCTAssertEqual(Array(x.dropFirst()), [try int("in_channels"), try int("input_size"), try int("input_size")], "\(pair.name) x")
            XCTAssertEqual(try io.tensor("t").shape, [x[0]], "\(pair.name) t")
            XCTAssertEqual(try io.tensor("y").shape, [x[0]], "\(pair.name) y")
            print("\(pair.name): \(text)")
        }
    }

    func expectError(_ bytes: [UInt8], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try writeBytes(bytes, "bad.safetensors")
        XCTAssertThrowsError(try SafeTensorsFile(path: path("bad.safetensors")), file: file, line: line) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("bad.safetensors"), "error does not name the file: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing from: \(text)", file: file, line: line) }
        }
    }

    func testMalformedHeadersAreRejectedBeforeTouchingData() throws {
        try expectError([1, 2, 3], ["8-byte header length"])
        try expectError(rawSafeTensors(header: "{}", data: []).dropLast(1) + [], ["exceeds"])
        try expectError(rawSafeTensors(header: "{\"a\": ", data: []), ["not valid JSON"])
        try expectError(rawSafeTensors(header: "[1, 2]", data: []), ["expected a JSON object"])
        try expectError(rawSafeTensors(header: #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: [0, 0, 0, 0]),
                        ["'w'", "run past the data section", "truncated"])
        try expectError(rawSafeTensors(header: #"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: Array(repeating: 0, count: 8)),
                        ["'w'", "needs 12 bytes", "give 8"])
        try expectError(rawSafeTensors(header: #"{"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}"#, data: [0]),
                        ["'w'", "unsupported dtype 'Q4'"])
        try expectError(rawSafeTensors(header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                                       data: Array(repeating: 0, count: 8)), ["'a'", "'b'", "overlap"])
        try expectError(rawSafeTensors(header: #"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}"#, data: []), ["'w'", "invalid dimension"])
        try expectError(rawSafeTensors(header: #"{"__metadata__": {"x": 1}}"#, data: []), ["__metadata__", "expected a string"])
        var huge = rawSafeTensors(header: "{}", data: [])
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        try expectError(huge, ["exceeds"])
    }

    func testMissingTensorAndWrongShapeNameEverything() throws {
        try SafeTensorsWriter.write([("blocks.0.attn.qkv.weight", Tensor([Float](repeating: 0, count: 6), shape: [2, 3]))], to: path("m.safetensors"))
        let file = try SafeTensorsFile(path: path("m.safetensors"))
        XCTAssertThrowsError(try file.tensor("pos_embed")) { XCTAssertTrue("\($0)".contains("no tensor 'pos_embed'")) }
        XCTAssertThrowsError(try file.tensor("blocks.0.attn.qkv.weight", shape: [3, 2])) {
            XCTAssertTrue("\($0)".contains("[2, 3]") && "\($0)".contains("expected [3, 2]"), "\($0)")
        }
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try SafeTensorsFile(path: path("nope.safetensors"))) { XCTAssertTrue("\($0)".contains("cannot open")) }
        XCTAssertThrowsError(try SafeTensorsFile(path: dir)) { XCTAssertTrue("\($0)".contains("directory")) }
    }

    func testFailedWriteLeavesNothingBehind() throws {
        try AtomicFile.write("old", to: path("keep.txt"))
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: path("keep.txt")) { sink in
            try sink.write("partial")
            throw Boom()
        })
        XCTAssertEqual(files(), ["keep.txt"])
        XCTAssertEqual(String(decoding: try FileReader.read(path("keep.txt")), as: UTF8.self), "old")
        XCTAssertThrowsError(try AtomicFile.write("x", to: path("missing/dir/file"))) { XCTAssertTrue("\($0)".contains("cannot create")) }
        XCTAssertThrowsError(try SafeTensorsWriter.write([("a", Tensor([Float(1)], shape: [1])), ("a", Tensor([Float(2)], shape: [1]))], to: path("dup.safetensors")))
        XCTAssertEqual(files(), ["keep.txt"])
    }
}
