import XCTest
import DyDiTIO

final class JSONTests: XCTestCase {
    func testParsesAndKeepsKeyOrder() throws {
        let v = try JSONParser.parse(#"{"z": 1, "a": [true, null, 2.5, "s\u00e9"], "m": {"k": -3}}"#)
        XCTAssertEqual(v.objectValue?.keys, ["z", "a", "m"])
        XCTAssertEqual(v["a"], .array([.bool(true), .null, .double(2.5), .string("sé")]))
        XCTAssertEqual(v["m"]?["k"]?.intValue, -3)
    }

    /// Comments are blanked character for character: strings keep their slashes, lines and
    /// columns stay those of the text as written, and the parser itself stays strict.
    func testCommentsAreBlankedInPlace() throws {
        let text = "{\"url\": \"http://x/*y*/\", // a note: é\n  /* two\n lines ß */ \"k\": \"a\\\"//b\", \"bad\": }"
        let clean = try JSONComments.blanked(Array(text.utf8))
        let back = String(decoding: clean, as: UTF8.self)
        XCTAssertTrue(back.contains(#""http://x/*y*/""#) && back.contains(#""a\"//b""#), back)
        XCTAssertFalse(back.contains("note") || back.contains("two") || back.contains("ß"), back)
        XCTAssertEqual(back.split(separator: "\n", omittingEmptySubsequences: false).map(\.count),
                       text.split(separator: "\n", omittingEmptySubsequences: false).map(\.count), "every line keeps its length in characters")
        // The error after the comments is reported where it is in the original text: line 3, column 39.
        do {
            _ = try clean.withUnsafeBytes { try JSONParser.parse($0, path: "c.json") }
            XCTFail("a missing value parsed")
        } catch let e as JSONParseError {
            let line = text.split(separator: "\n")[2]
            let column = line.distance(from: line.startIndex, to: line.range(of: "}")!.lowerBound) + 1
            XCTAssertEqual([e.line, e.column], [3, column], "\(e)")
        }
        XCTAssertEqual(try JSONComments.blanked(Array("{\"a\": 1}".utf8)), Array("{\"a\": 1}".utf8))
        XCTAssertThrowsError(try JSONComments.blanked(Array("{\n  /* open".utf8))) { error in
            let e = error as? JSONComments.Unclosed
            XCTAssertEqual([e?.line, e?.column], [2, 3])
        }
        // Without blanking, the strict parser refuses comments (and single quotes, trailing commas).
        for lax in ["{\"a\": 1 // c\n}", "{'a': 1}", "{\"a\": [1,]}"] {
            XCTAssertThrowsError(try JSONParser.parse(lax), lax)
        }
    }

    func testSerialisesAndReadsBack() throws {
        let v = JSONValue.object(JSONObject([("x", .double(0.1)), ("n", .int(3)), ("w", .double(2)), ("s", .string("a\"b\n\u{1}")),
                                             ("e", .array([])), ("o", .object(JSONObject()))]))
        for pretty in [false, true] {
            XCTAssertEqual(try JSONParser.parse(v.serialized(pretty: pretty)), v)
        }
        XCTAssertEqual(JSONValue.double(2).serialized(), "2.0")
    }

    func testErrorsGiveLineAndColumn() {
        XCTAssertThrowsError(try JSONParser.parse("{\n  \"a\": 1,\n  \"b\": ]\n}", path: "spec.json")) { error in
            let e = error as! JSONParseError
            XCTAssertEqual(e.line, 3, "\(e)")
            XCTAssertTrue(e.description.hasPrefix("spec.json:3:"), e.description)
        }
        XCTAssertThrowsError(try JSONParser.parse("{\"a\": 1} x", path: "t.json")) { XCTAssertTrue("\($0)".hasPrefix("t.json:1:10:"), "\($0)") }
        XCTAssertThrowsError(try JSONParser.parse("{\"a\": [1, 2", path: "t.json")) { XCTAssertTrue("\($0)".contains("end of input"), "\($0)") }
        XCTAssertThrowsError(try JSONParser.parse("", path: "t.json")) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
    }

    /// Positions by JSON path. Keys are read as the parser reads them, escapes included: the
    /// locator's own tokenizer once turned `\r` into `r` and dropped the second half of a
    /// surrogate pair, so errors under such keys lost their line and column.
    func testLocatorFindsValuesUnderEscapedKeys() throws {
        let text = "{\n  \"a\\rb\": {\"c\": 1},\n  \"\\ud83d\\ude00\": [true, {\"d\": 2}]\n}"
        let keys = try XCTUnwrap(JSONParser.parse(text).objectValue?.keys)
        XCTAssertEqual(keys, ["a\rb", "😀"])
        let locator = JSONLocator(text)
        XCTAssertEqual(locator.position(of: JSONLocator.child(JSONLocator.child("$", "a\rb"), "c")), .init(line: 2, column: 17))
        let emoji = JSONLocator.element(JSONLocator.child("$", "😀"), 1)
        XCTAssertEqual(locator.position(of: JSONLocator.child(emoji, "d")), .init(line: 3, column: 32))
        XCTAssertEqual(locator.position(of: "$.missing"), .init(line: 1, column: 1))
    }

    func testRejectsBinaryAndInvalidUTF8() {
        let invalid: [UInt8] = Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        XCTAssertThrowsError(try invalid.withUnsafeBytes { try JSONParser.parse($0, path: "bad.json") }) { error in
            XCTAssertEqual((error as! JSONParseError).line, 1)
        }
        let binary: [UInt8] = [0x7B, 0x00, 0x01, 0x02]
        XCTAssertThrowsError(try binary.withUnsafeBytes { try JSONParser.parse($0, path: "bin.json") }) {
            XCTAssertTrue("\($0)".contains("NUL"), "\($0)")
        }
    }
}
