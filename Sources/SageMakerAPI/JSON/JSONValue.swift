import Foundation

/// A JSON document as it arrived on the wire (AWS JSON 1.1 bodies) or as it will be sent.
///
/// Numbers keep the kind of their literal: `1` is `.int(1)`, `1.0` and `1e2` are `.double`.
/// An integer literal that does not fit `Int64` becomes `.double` (rounded; validation rejects
/// it for integer shapes). See ``parse(_:)`` for the one ambiguous spelling.
///
/// Parse with ``parse(_:)``; write with ``serialized()`` or ``write(into:)``.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// The nesting depth Foundation's JSON parser accepts: arrays/objects nested deeper than this
    /// are rejected with "Too many nested arrays or dictionaries" (measured on swift-corelibs-
    /// foundation with Swift 6.3.1: depth 512 parses, 513 and 100 000 are errors, no stack
    /// overflow). Since parsing never produces deeper values, the recursive writer and validator
    /// stay well within the stack for anything that came off the wire.
    public static let maximumParseDepth = 512

    /// Parses one JSON document (any JSON value at the top level, like Python's `json.loads`).
    ///
    /// A document of the common kind (ASCII strings with short escapes, integers of up to 18
    /// digits) is read by `CommonJSONParser`, which gives the same value at a fraction of the cost;
    /// every other one by Foundation's `JSONSerialization`, not by a complete parser of our own
    /// and not by `JSONDecoder` (which the design first suggested), for three measured reasons:
    /// - only `JSONSerialization` tells the kind of a number literal: through a `Decoder`,
    ///   `1.0`, `1e2`, `-0.0` and even `1e-400` decode as `Int64`, so an integer cannot be told
    ///   from a double (``init(from:)`` documents that limit for `Codable` use);
    /// - it is ~3x faster on a 1.6 KB CreateTrainingJob body (31 µs vs ~100 µs, release build;
    ///   `Decoder` costs a thrown `DecodingError` per failed type guess);
    /// - its errors say what is wrong ("Unexpected end of file during JSON parse.", "Invalid
    ///   UTF-8 sequence ...", "Too many nested arrays or dictionaries ..."); `JSONDecoder` says
    ///   "The given data was not valid JSON." for all of them.
    ///
    /// It keeps the *last* of duplicate keys, as Python's `json` does (`JSONDecoder` keeps the
    /// first). Two of its defects are worked around here: it drops a raw U+FEFF at the start of
    /// a string chunk (see `escapingByteOrderMarks`), and `NSDecimalNumber.doubleValue` is not
    /// correctly rounded (see `init(number:)`). With both, 3000 random documents from Python's
    /// `json.dumps` (control characters, U+2028, U+FEFF, emoji, random double bit patterns)
    /// came back from ``serialized()`` equal to the input, floats bit for bit.
    ///
    /// Findings (swift-corelibs-foundation, Swift 6.3.1), pinned by tests:
    /// - nesting deeper than ``maximumParseDepth`` → error, not a crash (100 000 levels checked);
    /// - `1e400` / `-1e400` → error ("Number 1e400 is not representable in Swift.");
    ///   `1e-400` → `.double(0.0)`;
    /// - integers beyond `Int64` (`99999999999999999999`, `9223372036854775808`) → `.double`
    ///   (rounded to the nearest double);
    /// - doubles are correctly rounded, also long ones that Foundation keeps as `Decimal`
    ///   (see `init(number:)`); beyond Decimal's 38 significant digits the rest is dropped
    ///   before rounding;
    /// - ambiguous: a negative double literal in [-9.2e18, -1e18] with 17 significant digits
    ///   (`-1.1161973010003209e+18`) reaches us exactly like the integer literal
    ///   `-1116197301000320900`, and becomes that `.int` (the literal's exact value);
    /// - invalid UTF-8, lone surrogate escapes (`"\ud800"`), unescaped control characters,
    ///   truncated input and trailing garbage → error.
    /// - Leniencies of Foundation that strict parsers (Python, Jackson) reject: a trailing comma
    ///   (`[1,]`, `{"a":1,}`) and a UTF-8 byte-order mark are accepted. UTF-16/32 input, which
    ///   Foundation would sniff and accept, is rejected here (AWS JSON bodies are UTF-8; a UTF-8
    ///   JSON text never contains a NUL byte).
    ///
    /// - Parameter bytes: the UTF-8 encoded JSON text.
    /// - Returns: the parsed value.
    /// - Throws: ``JSONParseError`` with a short reason.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        // Most bodies are ASCII with integers only: those need no Foundation (CommonJSONParser).
        if let common = CommonJSONParser.parse(bytes) { return common }
        return try parseWithFoundation(bytes)
    }

    /// `parse` through `JSONSerialization`, for every document.
    static func parseWithFoundation(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        var needsEscaping = false
        for byte in bytes {
            if byte == 0 {
                throw JSONParseError(message: "Invalid UTF-8 JSON text (contains a NUL byte)")
            }
            if byte == 0xEF { needsEscaping = true }
        }
        let data = needsEscaping ? Data(escapingByteOrderMarks(bytes)) : Data(bytes)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw JSONParseError(message: Self.reason(for: error))
        }
        guard let value = JSONValue(foundationObject: object) else {
            throw JSONParseError(message: "Unsupported JSON value")
        }
        return value
    }

    /// Parses a JSON text given as a string (convenience for tests and callers holding text).
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Works around a swift-corelibs-foundation bug: `JSONSerialization` drops a raw U+FEFF
    /// (UTF-8 `EF BB BF`) at the start of a string or right after an escape (`"\u0018<FEFF>x"`
    /// came back as `"\u0018x"`), as if it were a byte-order mark. An escaped `\uFEFF` survives,
    /// so raw ones are rewritten to that escape. Outside strings the bytes were invalid JSON and
    /// the escape is too, so errors stay errors. A byte-order mark opening the document is left
    /// for Foundation to skip.
    private static func escapingByteOrderMarks(_ bytes: [UInt8]) -> [UInt8] {
        let escape = Array(#"\uFEFF"#.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var index = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            output.append(contentsOf: [0xEF, 0xBB, 0xBF])
            index = 3
        }
        while index < bytes.count {
            if bytes[index] == 0xEF, index + 2 < bytes.count, bytes[index + 1] == 0xBB, bytes[index + 2] == 0xBF {
                output.append(contentsOf: escape)
                index += 3
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return output
    }

    /// Foundation wraps the useful text in `NSDebugDescription`; the localized description
    /// alone is only "The data is not in the correct format."
    private static func reason(for error: any Error) -> String {
        let nsError = error as NSError
        if let debug = nsError.userInfo[NSDebugDescriptionErrorKey] as? String, !debug.isEmpty {
            return debug
        }
        return nsError.localizedDescription
    }

    /// Converts what `JSONSerialization` returns. Order of the casts matters for speed on Linux
    /// (strings and dictionaries are the common case; casting a dictionary to `[Any]` first was
    /// ~10x slower in a measurement).
    private init?(foundationObject value: Any) {
        if let string = value as? String {
            self = .string(string)
        } else if let dictionary = value as? [String: Any] {
            var object = [String: JSONValue](minimumCapacity: dictionary.count)
            for (key, element) in dictionary {
                guard let converted = JSONValue(foundationObject: element) else { return nil }
                object[key] = converted
            }
            self = .object(object)
        } else if let array = value as? [Any] {
            var elements = [JSONValue]()
            elements.reserveCapacity(array.count)
            for element in array {
                guard let converted = JSONValue(foundationObject: element) else { return nil }
                elements.append(converted)
            }
            self = .array(elements)
        } else if let number = value as? NSNumber {
            self = JSONValue(number: number)
        } else if value is NSNull {
            self = .null
        } else {
            return nil
        }
    }

    /// `JSONSerialization` makes booleans `NSNumber`s of type `c`, integers that fit `Int64`
    /// `i`/`q`, integers up to `UInt64.max` `Q`, short decimals `d`, and `NSDecimalNumber`s
    /// (also `d`) of number literals with 17 or more digits (`0.30000000000000004`,
    /// `1000000000000000.0`) and of 19-digit negative integers (`Int64.min`; measured).
    ///
    /// `NSDecimalNumber.doubleValue` is not correctly rounded (`0.30000000000000004`, Python's
    /// `repr(0.1 + 0.2)`, came back one ulp off), so a decimal goes through its exact digits
    /// (`description`, up to Decimal's 38 digits) and Swift's correctly rounded `Double(_:)`.
    /// The decimal's text has lost the literal's `.0` or exponent. Integer literals become
    /// decimals only when negative with 19 digits (positive ones up to `UInt64.max` are `q`/`Q`),
    /// so only that case is taken as an integer; it is ambiguous with a negative double literal
    /// in [-9.2e18, -1e18] with 17 digits (`-1.1161973010003209e+18`), which then becomes `.int`
    /// of the literal's exact decimal value (rare; pinned by a test).
    private init(number: NSNumber) {
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "c"), UInt8(ascii: "B"):
            self = .bool(number.boolValue)
        case UInt8(ascii: "d"), UInt8(ascii: "f"):
            if let decimal = number as? NSDecimalNumber {
                let digits = decimal.description
                if let int = Int64(digits), int < 0, int.magnitude >= 1_000_000_000_000_000_000 {
                    self = .int(int)
                } else {
                    self = .double(Double(digits) ?? decimal.doubleValue)
                }
            } else {
                self = .double(number.doubleValue)
            }
        case UInt8(ascii: "Q"):
            self = .double(number.doubleValue)
        default:
            self = .int(number.int64Value)
        }
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The member `key` of an object; `nil` for a missing key or when this is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    /// The string, when this is `.string`.
    public var stringValue: String? {
        guard case .string(let string) = self else { return nil }
        return string
    }

    /// The integer, when this is `.int`, or a `.double` with an integral value inside `Int64`
    /// (`1.0` → 1; Coral also accepts such literals for integer members).
    public var int64Value: Int64? {
        switch self {
        case .int(let int):
            return int
        case .double(let double):
            return Int64(exactly: double)
        default:
            return nil
        }
    }

    /// The number as a `Double`, for `.int` and `.double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let int):
            return Double(int)
        case .double(let double):
            return double
        default:
            return nil
        }
    }

    /// The boolean, when this is `.bool`.
    public var boolValue: Bool? {
        guard case .bool(let bool) = self else { return nil }
        return bool
    }

    /// The elements, when this is `.array`.
    public var arrayValue: [JSONValue]? {
        guard case .array(let array) = self else { return nil }
        return array
    }

    /// The members, when this is `.object`.
    public var objectValue: [String: JSONValue]? {
        guard case .object(let object) = self else { return nil }
        return object
    }

    /// Whether this is `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
