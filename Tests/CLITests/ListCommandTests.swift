import DyDiTIO
import XCTest

/// `dydit list`: the plug-in catalogue, as text for people and as JSON for notebooks and tools.
final class ListCommandTests: XCTestCase {
    func testJSONListsEveryKindWithOptions() throws {
        let r = try DyDiTProcess.run(["list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let root = try JSONParser.parse(r.stdout)
        guard case .object(let kinds) = root else { return XCTFail("not a JSON object: \(r.stdout.prefix(200))") }
        XCTAssertEqual(kinds.keys, ["backbones", "width_routers", "token_routers", "samplers", "precisions", "metrics", "datasets"])
        for (kind, value) in kinds.pairs {
            let entries = try XCTUnwrap(value.arrayValue, kind)
            XCTAssertFalse(entries.isEmpty, kind)
            for e in entries {
                XCTAssertFalse(e["name"]?.stringValue?.isEmpty ?? true, "\(kind): \(e.serialized())")
                XCTAssertFalse(e["summary"]?.stringValue?.isEmpty ?? true, "\(kind): \(e.serialized())")
                for o in try XCTUnwrap(e["options"]?.arrayValue, "\(kind): \(e.serialized())") {
                    XCTAssertNotNil(o["name"]?.stringValue, "\(kind) \(e["name"]!.serialized())")
                    XCTAssertNotNil(o["default"], "\(kind) \(e["name"]!.serialized())")
                    XCTAssertNotNil(o["help"]?.stringValue, "\(kind) \(e["name"]!.serialized())")
                }
            }
        }
        func names(_ kind: String) -> [String] { kinds[kind]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [] }
        XCTAssertEqual(names("width_routers"), ["none", "tdw", "random", "static"])
        XCTAssertEqual(names("token_routers"), ["none", "sdt", "random", "static", "layer-skip"])
        XCTAssertTrue(Set(["ddpm", "ddim", "dpm-solver", "dpm-solver++"]).isSubset(of: names("samplers")), "\(names("samplers"))")
        let random = kinds["width_routers"]?.arrayValue?.first { $0["name"]?.stringValue == "random" }
        XCTAssertEqual(random?["options"]?.arrayValue?.first { $0["name"]?.stringValue == "keep" }?["default"], .double(0.5))
        // The text listing names the same plug-ins.
        let text = try DyDiTProcess.run(["list"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for kind in kinds.keys { for name in names(kind) { XCTAssertTrue(text.stdout.contains("  \(name)  — "), "\(kind) \(name)") } }
    }
}
