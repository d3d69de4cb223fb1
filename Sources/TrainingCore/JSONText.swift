/// Pieces of JSON text (RFC 8259), for the few values Trainyard writes by hand.
public enum JSONText {
    /// An object's members, written in the order given (callers give them sorted).
    public struct Object {
        private var body = ""

        public init() {}

        public mutating func member(_ key: String, _ value: String) {
            if !body.isEmpty { body += "," }
            body += JSONText.quoted(key) + ":" + value
        }

        public var text: String { "{" + body + "}" }
    }

    /// A string literal: quote, backslash and control characters escaped (§7).
    public static func quoted(_ text: String) -> String {
        // Most strings need no escape: copied whole, not scalar by scalar.
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public static func array(_ elements: [String]) -> String { "[" + elements.joined(separator: ",") + "]" }

    public static func strings(_ elements: [String]) -> String { array(elements.map(quoted)) }

    /// An object of string values, keys sorted.
    public static func dictionary(_ members: [String: String]) -> String {
        var object = Object()
        for key in members.keys.sorted() { object.member(key, quoted(members[key]!)) }
        return object.text
    }
}
