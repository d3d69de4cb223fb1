extension JSONValue: Codable {
    /// Decodes any JSON value, so a `JSONValue` can sit inside `Codable` types.
    ///
    /// Prefer ``parse(_:)`` for request bodies: a `Decoder` does not reveal the literal, and
    /// Foundation's `JSONDecoder` decodes `1.0`, `1e2` and `1e-400` as the integer they equal
    /// (measured), so through this initializer such numbers become `.int`. Order of attempts:
    /// null, string, object, array, bool, integer, double (common kinds first: each failed
    /// attempt costs a thrown `DecodingError`). Only type mismatches move on to the next
    /// attempt; any other error (invalid UTF-8 in a string, say) is rethrown as it is.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
            return
        }
        do {
            self = .string(try container.decode(String.self))
            return
        } catch DecodingError.typeMismatch {}
        do {
            self = .object(try container.decode([String: JSONValue].self))
            return
        } catch DecodingError.typeMismatch {}
        do {
            self = .array(try container.decode([JSONValue].self))
            return
        } catch DecodingError.typeMismatch {}
        do {
            self = .bool(try container.decode(Bool.self))
            return
        } catch DecodingError.typeMismatch {}
        // A fraction or a number beyond Int64 fails with Foundation's internal
        // "numberIsNotRepresentableInSwift", not a DecodingError: any failure here means "try it
        // as a double", whose own error is the one reported.
        if let int = try? container.decode(Int64.self) {
            self = .int(int)
            return
        }
        self = .double(try container.decode(Double.self))
    }

    /// Encodes the value as the JSON value it is.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .int(let int): try container.encode(int)
        case .double(let double): try container.encode(double)
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }
}
