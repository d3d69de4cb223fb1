/// The common case of a request body, parsed without Foundation: ASCII strings with the short
/// escapes, integers of at most 18 digits, `true`, `false`, `null`, and objects and arrays nested
/// at most `maximumDepth` deep. Anything else (a fraction or exponent, `-0`, `\u` escapes, bytes
/// beyond ASCII, control characters, leading zeros, any error) gives nil, and `JSONValue.parse`
/// hands the whole document to `JSONSerialization`, whose handling of those is pinned by tests.
/// On what it accepts the result is the one `JSONSerialization` gives (`JSONValueTests` compares
/// the two on generated documents). In a burst of creates, parsing went from about 3.5% of the
/// server's CPU (JSONSerialization and bridging its NSDictionary tree) to under 1%.
struct CommonJSONParser {
    static let maximumDepth = 64
    /// Digits an integer may have and still surely fit `Int64` (and be an `i`/`q` to Foundation).
    static let maximumDigits = 18

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = CommonJSONParser(buffer)
            guard let value = parser.value(depth: 0) else { return nil }
            parser.skipWhitespace()
            guard parser.index == buffer.count else { return nil }
            return value
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> JSONValue? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        // No `condition ? value : nil` here: JSONValue is ExpressibleByNilLiteral, so that `nil`
        // would be `.null`, not "leave it to Foundation".
        case UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { return nil }
            return object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { return nil }
            return array(depth: depth + 1)
        case UInt8(ascii: "t"):
            guard literal("true") else { return nil }
            return .bool(true)
        case UInt8(ascii: "f"):
            guard literal("false") else { return nil }
            return .bool(false)
        case UInt8(ascii: "n"):
            guard literal("null") else { return nil }
            return .null
        default: return integer().map(JSONValue.int)
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// Skips whitespace, then takes `byte` if it comes next.
    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func object(depth: Int) -> JSONValue? {
        index += 1  // {
        var members: [String: JSONValue] = [:]
        if consume(UInt8(ascii: "}")) { return .object(members) }
        repeat {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string(), consume(UInt8(ascii: ":")),
                let member = value(depth: depth)
            else { return nil }
            members[key] = member  // the last of duplicate keys wins, as with JSONSerialization
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")) else { return nil }
        return .object(members)
    }

    private mutating func array(depth: Int) -> JSONValue? {
        index += 1  // [
        var elements: [JSONValue] = []
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        repeat {
            guard let element = value(depth: depth) else { return nil }
            elements.append(element)
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "]")) else { return nil }
        return .array(elements)
    }

    /// A string of printable ASCII, with `\" \\ \/ \b \f \n \r \t` only.
    private mutating func string() -> String? {
        index += 1  // "
        let start = index
        // Most strings have no escape: one copy of their bytes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20, byte < 0x80 else { return nil }
            index += 1
        }
        var text = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                default: return nil  // \u and invalid escapes
                }
            default:
                guard byte >= 0x20, byte < 0x80 else { return nil }
                text.append(byte)
            }
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` of at most `maximumDigits` digits, not `-0`, not followed by a
    /// fraction or an exponent.
    private mutating func integer() -> Int64? {
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let start = index
        var magnitude: Int64 = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            guard index - start < Self.maximumDigits else { return nil }
            magnitude = magnitude * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        let digits = index - start
        guard digits > 0, bytes[start] != UInt8(ascii: "0") || digits == 1, !(negative && magnitude == 0) else { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
        return negative ? -magnitude : magnitude
    }
}
