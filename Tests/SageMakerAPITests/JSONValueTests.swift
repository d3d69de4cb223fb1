import Foundation
import Testing

@testable import SageMakerAPI

@Suite("JSONValue")
struct JSONValueTests {
    private func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(text)
    }

    private func parseError(_ bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONValue.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Kinds

    @Test("integers, doubles and booleans keep the kind of their literal")
    func numberKinds() throws {
        #expect(try parse("1") == .int(1))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("1e2") == .double(100))
        #expect(try parse("1E2") == .double(100))
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-0.0") == .double(-0.0))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("0") == .int(0))
        #expect(try parse("[true, 1, 0, false]") == .array([.bool(true), .int(1), .int(0), .bool(false)]))
        #expect(try parse("null") == .null)
        #expect(try parse("\"x\"") == .string("x"))
    }

    @Test("Int64 limits; larger integers become doubles")
    func integerLimits() throws {
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("-9223372036854775808") == .int(.min))
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try parse("99999999999999999999") == .double(1e20))
        #expect(try parse("-9223372036854775809") == .double(-9_223_372_036_854_775_808.0))
    }

    @Test("long literals that Foundation keeps as Decimal keep their kind and exact value")
    func decimalLiterals() throws {
        #expect(try parse("0.30000000000000004") == .double(0.1 + 0.2))
        #expect(try parse("1000000000000000.0") == .double(1e15))
        #expect(try parse("-1000000000000000.0") == .double(-1e15))
        #expect(try parse("9007199254740992.0") == .double(9_007_199_254_740_992))
        #expect(try parse("123456789.123456789") == .double(123456789.123456789))
        #expect(try parse("-9223372036854775807") == .int(-9_223_372_036_854_775_807))
        #expect(try parse("-999999999999999999") == .int(-999_999_999_999_999_999))
        #expect(try parse("1116197301000320900") == .int(1_116_197_301_000_320_900))
        #expect(try parse("1.1161973010003209e+18") == .double(1.1161973010003209e+18))
        // The one ambiguous case: a negative 17-digit double in [-9.2e18, -1e18] reads as the
        // integer its literal spells (Foundation hands both spellings over as the same Decimal).
        #expect(try parse("-1.1161973010003209e+18") == .int(-1_116_197_301_000_320_900))
        // Beyond Decimal's 38 digits the rest is dropped before rounding: close, maybe not exact.
        let huge = try #require(try parse("12345678901234567890123456789012345678901234567890").doubleValue)
        #expect(abs(huge - 1.2345678901234568e49) <= 1.2345678901234568e49.ulp)
    }

    @Test("numbers out of Double range are an error, not a crash; underflow is 0.0")
    func hugeNumbers() throws {
        #expect(parseError(Array("1e400".utf8)) != nil)
        #expect(parseError(Array("-1e400".utf8)) != nil)
        #expect(parseError(Array("[1e400]".utf8)) != nil)
        #expect(try parse("1e-400") == .double(0))
    }

    @Test("objects and arrays")
    func containers() throws {
        let value = try parse(#"{"a": [1, {"b": null}], "c": "d"}"#)
        #expect(value == .object(["a": .array([.int(1), .object(["b": .null])]), "c": .string("d")]))
        // Last duplicate wins, as in Python's json.
        #expect(try parse(#"{"a":1,"a":2}"#) == .object(["a": .int(2)]))
        #expect(try parse(" {} ") == .object([:]))
        #expect(try parse("[]") == .array([]))
    }

    // MARK: Strings

    @Test("unicode escapes and raw UTF-8 decode")
    func unicodeParsing() throws {
        #expect(try parse(#""\u00e9""#) == .string("é"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse("\"😀 é ü 中\"") == .string("😀 é ü 中"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#""a\"b\\c\/d\n\t""#) == .string("a\"b\\c/d\n\t"))
    }

    @Test("U+FEFF inside strings survives (a Foundation bug drops it after an escape)")
    func zeroWidthNoBreakSpace() throws {
        let text = "[\"\u{FEFF}X\", \"\\u0018\u{FEFF}X\", \"a\u{FEFF}b\", \"\\n\u{FEFF}\u{FEFF}\", \"\\uFEFF\"]"
        #expect(
            try parse(text)
                == .array([
                    .string("\u{FEFF}X"), .string("\u{18}\u{FEFF}X"), .string("a\u{FEFF}b"),
                    .string("\n\u{FEFF}\u{FEFF}"),
                    .string("\u{FEFF}"),
                ])
        )
        #expect(try parse("{\"\u{FEFF}k\":\"\u{FEFF}\"}") == .object(["\u{FEFF}k": .string("\u{FEFF}")]))
        // Outside a string it is still an error.
        #expect(parseError(Array("[1,\u{FEFF}2]".utf8)) != nil)
        #expect(parseError(Array("[1]\u{FEFF}".utf8)) != nil)
    }

    @Test("strings are escaped on output")
    func escaping() {
        #expect(JSONValue.string("a\"b\\c").serialized() == #""a\"b\\c""#)
        #expect(JSONValue.string("\n\r\t\u{8}\u{C}").serialized() == #""\n\r\t\b\f""#)
        #expect(JSONValue.string("\u{0}\u{1}\u{1F}").serialized() == #""\u0000\u0001\u001f""#)
        #expect(JSONValue.string("\u{7F} / é 😀").serialized() == "\"\u{7F} / é 😀\"")
        #expect(JSONValue.string("").serialized() == #""""#)
    }

    @Test("every control character round-trips")
    func controlCharactersRoundTrip() throws {
        let text = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "\"\\end"
        let value = JSONValue.string(text)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    // MARK: Writer

    @Test("compact output with sorted keys")
    func compactSorted() {
        let value: JSONValue = [
            "b": [1, 2.5, "x", true, nil],
            "a": ["z": 1, "y": [:]],
            "C": -3,
        ]
        #expect(value.serialized() == #"{"C":-3,"a":{"y":{},"z":1},"b":[1,2.5,"x",true,null]}"#)
    }

    @Test("integers are written as integers")
    func integers() {
        #expect(JSONValue.int(0).serialized() == "0")
        #expect(JSONValue.int(-7).serialized() == "-7")
        #expect(JSONValue.int(86400).serialized() == "86400")
        #expect(JSONValue.int(.max).serialized() == "9223372036854775807")
        #expect(JSONValue.int(.min).serialized() == "-9223372036854775808")
    }

    @Test(
        "doubles are written in shortest round-trip form and parse back exactly",
        arguments: [
            0.1, 0.30000000000000004, 1e23, Double.leastNonzeroMagnitude, 2.2250738585072014e-308,
            1.7976931348623157e308,
            123456789.123456789, -0.0, 1.0, 1e16, 1e-5, 1.747418250603e9, 1795722446.859,
            0.1 + 0.7, 1.0 / 3.0, 2.0 / 3.0, 9007199254740993.0, 4.35, 0.1234567890123456789,
        ])
    func doubles(value: Double) throws {
        let text = JSONValue.double(value).serialized()
        guard case .double(let back) = try JSONValue.parse(text) else {
            Issue.record("\(text) did not parse as a double")
            return
        }
        #expect(back.bitPattern == value.bitPattern, "\(text)")
        #expect(!text.contains("inf") && !text.contains("nan"))
    }

    @Test("known double spellings (Python's json reads each back exactly)")
    func doubleSpellings() {
        #expect(JSONValue.double(1.0).serialized() == "1.0")
        #expect(JSONValue.double(0.1).serialized() == "0.1")
        #expect(JSONValue.double(1e20).serialized() == "1e+20")
        #expect(JSONValue.double(1e-5).serialized() == "1e-05")
        #expect(JSONValue.double(.infinity).serialized() == "null")
        #expect(JSONValue.double(.nan).serialized() == "null")
    }

    @Test("write(into:) appends")
    func writeAppends() {
        var bytes = Array("x=".utf8)
        JSONValue.object(["k": .string("v")]).write(into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #"x={"k":"v"}"#)
    }

    @Test("parse → serialize → parse is the identity")
    func roundTrip() throws {
        let text = #"""
            {"TrainingJobName":"job-1","HyperParameters":{"epochs":"10","lr":"0.01"},
             "ResourceConfig":{"InstanceCount":1,"VolumeSizeInGB":30},"Values":[1.5,-2,1e100,true,null],
             "Nested":{"a":{"b":{"c":["é","\u0001","😀"]}}}}
            """#
        let value = try parse(text)
        let once = value.serialized()
        let again = try JSONValue.parse(once)
        #expect(again == value)
        #expect(again.serialized() == once)
    }

    @Test("the common-case parser gives JSONSerialization's value for every document it reads, and leaves the rest to it")
    func commonParserAgreesWithFoundation() throws {
        var generator = DocumentGenerator(seed: 20261207)
        var read = 0
        for _ in 0..<4000 {
            let text = generator.document()
            let bytes = Array(text.utf8)
            guard let common = CommonJSONParser.parse(bytes) else { continue }
            read += 1
            let foundation = try? JSONValue.parseWithFoundation(bytes)
            #expect(foundation == common, "\(text.debugDescription)")
        }
        // Both kinds came up: documents it reads and documents it leaves to Foundation.
        #expect(read > 400 && read < 3600, "read \(read) of 4000")
        for text in ["01", "-0", "1.0", "1e2", "123456789012345678", "-123456789012345678", "1234567890123456789",
                     #""\u0041""#, "\"\u{1}\"", "[1,]", "{\"a\":1,}", "\"é\"", String(repeating: "[", count: 65) + String(repeating: "]", count: 65)] {
            let common = CommonJSONParser.parse(Array(text.utf8))
            let foundation = try? JSONValue.parseWithFoundation(Array(text.utf8))
            #expect(common == nil || common == foundation, "\(text.debugDescription)")
        }
        #expect(CommonJSONParser.parse(Array("123456789012345678".utf8)) == .int(123_456_789_012_345_678))
        #expect(CommonJSONParser.parse(Array("1234567890123456789".utf8)) == nil)
        #expect(CommonJSONParser.parse(Array(#"{"a":1,"a":"two"}"#.utf8)) == .object(["a": .string("two")]))
        // Whatever it cannot read is nil (Foundation's turn), never JSONValue.null.
        for text in ["nul", "tru", "fals", "[] []", #"{"a":1} x"#, "[1] 2", "[nul]", "", " "] {
            #expect(CommonJSONParser.parse(Array(text.utf8)) == Optional<JSONValue>.none, "\(text.debugDescription)")
        }
    }

    // MARK: Rejected input

    @Test(
        "invalid UTF-8 is rejected",
        arguments: [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x7B, 0x80, 0x7D],
        ] as [[UInt8]])
    func invalidUTF8(bytes: [UInt8]) {
        #expect(parseError(bytes) != nil)
    }

    @Test("UTF-16 input is rejected (AWS JSON bodies are UTF-8)")
    func utf16Rejected() {
        let utf16LE = Array(#"{"a":1}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(parseError(utf16LE) != nil)
    }

    @Test(
        "truncated input, trailing garbage and other syntax errors are rejected",
        arguments: [
            #"{"a":1"#, #"{"a":"#, "[1, 2", #""abc"#, "", " ", #"{"a":1} x"#, "[] []", "nul", "[1 2]",
            #""\x""#, #""\ud800""#, "NaN", "Infinity", "01", "{a:1}", "'a'", "\"a\u{1}\"",
        ])
    func syntaxErrors(text: String) {
        let error = parseError(Array(text.utf8))
        #expect(error != nil, "\(text.debugDescription) parsed")
        #expect(error.map { !$0.message.isEmpty } ?? true)
    }

    @Test("the message says what is wrong")
    func errorMessages() {
        #expect(parseError(Array(#"{"a":1"#.utf8))?.message == "Unexpected end of file during JSON parse.")
        #expect(parseError([0x22, 0xFF, 0x22])?.message.contains("UTF-8") == true)
    }

    @Test("Foundation leniencies that stay: trailing commas and a UTF-8 BOM")
    func leniencies() throws {
        #expect(try parse("[1,]") == .array([.int(1)]))
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .object([:]))
    }

    // MARK: Depth

    @Test("nesting up to 512 parses; deeper is an error, not a stack overflow")
    func nesting() throws {
        func nested(_ depth: Int) -> [UInt8] {
            Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        }
        #expect(JSONValue.maximumParseDepth == 512)
        #expect(parseError(nested(512)) == nil)
        #expect(parseError(nested(513)) != nil)
        #expect(parseError(nested(100_000)) != nil)
        let objects =
            String(repeating: #"{"a":"#, count: 100_000) + "1"
            + String(repeating: "}", count: 100_000)
        #expect(parseError(Array(objects.utf8)) != nil)
        // Unbalanced: 100k openers only.
        #expect(parseError(Array(String(repeating: "[", count: 100_000).utf8)) != nil)
    }

    @Test("a value at the maximum depth serializes and round-trips")
    func deepRoundTrip() throws {
        let text = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        let value = try parse(text)
        #expect(value.serialized() == text)
    }

    // MARK: Accessors

    @Test("accessors")
    func accessors() throws {
        let value = try parse(#"{"s":"x","i":3,"d":2.5,"w":4.0,"b":true,"a":[1],"o":{"k":null},"n":null}"#)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.int64Value == 3)
        #expect(value["i"]?.doubleValue == 3)
        #expect(value["d"]?.doubleValue == 2.5)
        #expect(value["d"]?.int64Value == nil)
        #expect(value["w"]?.int64Value == 4)
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"]?.arrayValue == [.int(1)])
        #expect(value["o"]?.objectValue == ["k": .null])
        #expect(value["n"]?.isNull == true)
        #expect(value["missing"] == nil)
        #expect(value["s"]?["x"] == nil)
        #expect(value["s"]?.int64Value == nil)
        #expect(value["i"]?.stringValue == nil)
        #expect(value["b"]?.doubleValue == nil)
        #expect(JSONValue.double(1e30).int64Value == nil)
    }

    // MARK: Codable

    @Test("Decodable through JSONDecoder (integral doubles become integers there)")
    func decodable() throws {
        let data = Data(#"{"a":[1,2.5,"x",true,null],"b":{"c":1.0}}"#.utf8)
        let value = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(value == ["a": [1, 2.5, "x", true, nil], "b": ["c": 1]])
    }

    @Test("Encodable through JSONEncoder")
    func encodable() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil]]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(value)
        #expect(try JSONValue.parse(Array(data)) == value)
    }
}

/// Random JSON texts, valid and not, of the kinds a request body may hold: the common case
/// (ASCII, short escapes, small integers), and what only Foundation reads (fractions, exponents,
/// `\u` escapes, UTF-8, long integers, `-0`, leading zeros, trailing commas, cut-off texts).
private struct DocumentGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    private mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }

    mutating func document() -> String {
        var text = value(depth: 0)
        if next(20) == 0, !text.isEmpty { text.removeLast(next(text.count) + 1) }  // cut off
        return text
    }

    private mutating func space() -> String { ["", "", " ", "\n", "\t ", "\r\n"][next(6)] }

    private mutating func value(depth: Int) -> String {
        switch next(depth > 3 ? 6 : 9) {
        case 0: return string()
        case 1: return number()
        case 2: return ["true", "false", "null"][next(3)]
        case 3, 4, 5: return string()
        case 6, 7:
            let members = (0..<next(5)).map { _ in space() + string() + space() + ":" + space() + value(depth: depth + 1) }
            return "{" + members.joined(separator: ",") + (next(30) == 0 ? "," : "") + space() + "}"
        default:
            let elements = (0..<next(5)).map { _ in space() + value(depth: depth + 1) }
            return "[" + elements.joined(separator: ",") + (next(30) == 0 ? "," : "") + space() + "]"
        }
    }

    private mutating func string() -> String {
        let pieces = [
            "a", "Z", "0", " ", "-", "/", "ml.m5.large", "s3://bucket/key", "\\\"", "\\\\", "\\/", "\\n", "\\t",
            "\\b", "\\f", "\\r", "\\u0041", "\\u00e9", "\\ud83d\\ude00", "é", "😀", "\u{7F}", "~", "{", "]",
        ]
        let common = pieces.prefix(16)
        var text = "\""
        for _ in 0..<next(6) { text += next(8) == 0 ? pieces[next(pieces.count)] : common[next(common.count)] }
        return text + "\""
    }

    private mutating func number() -> String {
        switch next(10) {
        case 0: return ["0", "-0", "01", "-", "1.5", "-2.25e3", "1E2", "0.1"][next(8)]
        case 1: return String(repeating: "9", count: 17 + next(4))
        case 2: return "-" + String(repeating: "8", count: 17 + next(4))
        default: return String(next(2_000_000) - 1_000_000)
        }
    }
}
