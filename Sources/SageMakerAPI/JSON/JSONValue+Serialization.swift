extension JSONValue {
    /// Compact JSON text: no whitespace, object keys sorted (so equal values always give equal
    /// bytes), non-ASCII characters written as UTF-8.
    public func serialized() -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        write(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the compact JSON text of this value (see ``serialized()``) to `bytes`.
    ///
    /// - Strings: `"` and `\` are escaped; control characters as `\n`, `\r`, `\t`, `\b`, `\f`
    ///   or `\u00XX` (Python's `json.dumps` spelling); everything else is copied as UTF-8.
    /// - `.int` as an integer; `.double` in Swift's shortest round-trip form (`0.1`, `1.0`,
    ///   `1e+20`, `5e-324`), which Python's `json` reads back to the same `float`. A non-finite
    ///   double cannot come out of ``parse(_:)``; one built in code is written as `null`
    ///   (JSON has no spelling for it).
    public func write(into bytes: inout [UInt8]) {
        switch self {
        case .null:
            bytes.append(contentsOf: Self.nullLiteral)
        case .bool(let bool):
            bytes.append(contentsOf: bool ? Self.trueLiteral : Self.falseLiteral)
        case .int(let int):
            Self.writeInteger(int, into: &bytes)
        case .double(let double):
            if double.isFinite {
                bytes.append(contentsOf: double.description.utf8)
            } else {
                bytes.append(contentsOf: Self.nullLiteral)
            }
        case .string(let string):
            Self.writeString(string, into: &bytes)
        case .array(let array):
            bytes.append(UInt8(ascii: "["))
            var first = true
            for element in array {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                element.write(into: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                Self.writeString(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                value.write(into: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static let nullLiteral: StaticString = "null"
    private static let trueLiteral: StaticString = "true"
    private static let falseLiteral: StaticString = "false"

    private static func writeInteger(_ value: Int64, into bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        // Work on the magnitude as UInt64 so Int64.min does not overflow; 24 bytes of stack
        // hold the longest magnitude (20 digits) without a heap allocation.
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    private static func writeString(_ string: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                // Bytes >= 0x80 are parts of multi-byte scalars and are copied unchanged.
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                    continue
                }
                if runStart < index {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                }
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(UInt8(ascii: "u"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(hexDigit(byte >> 4))
                    bytes.append(hexDigit(byte & 0x0F))
                }
            }
            if runStart < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

extension [UInt8] {
    fileprivate mutating func append(contentsOf literal: StaticString) {
        literal.withUTF8Buffer { self.append(contentsOf: $0) }
    }
}
