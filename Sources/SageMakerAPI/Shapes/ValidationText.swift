/// The texts of Coral's (the AWS service framework's) validation and deserialization messages.
///
/// Constraint clauses (`Member must ...`) and the `Value '...' at '...' failed to satisfy
/// constraint: ...` frame are as real services print them (O: SageMaker's pattern message in
/// `shared/reference/api-fidelity.md` §1; DynamoDB, Cognito, STS and EventBridge messages quoted
/// in public code). The `SerializationException` texts are DynamoDB's as reproduced by dynalite
/// (`class java.lang.String can not be converted to an Integer`, `Start of list found where not
/// expected`, ...); whether SageMaker's stack words them the same way is **unknown**, as is the
/// wording for cases dynalite does not cover (marked below).
enum ValidationText {
    // MARK: Constraint clauses

    static let notNull = "Member must not be null"

    /// The model's pattern text is shown as is. botocore 1.43.11 has no `^…$` anchors; messages
    /// of the real service have shown `^…` (api-fidelity.md §1, from an older model) — we chose
    /// the model text, since that is what this server enforces.
    static func pattern(_ pattern: String) -> String {
        "Member must satisfy regular expression pattern: " + pattern
    }

    static func lengthAtLeast(_ min: Int) -> String {
        "Member must have length greater than or equal to \(min)"
    }

    static func lengthAtMost(_ max: Int) -> String {
        "Member must have length less than or equal to \(max)"
    }

    static func valueAtLeast(_ min: String) -> String {
        "Member must have value greater than or equal to " + min
    }

    static func valueAtMost(_ max: String) -> String {
        "Member must have value less than or equal to " + max
    }

    /// `enumText` is `[A, B, C]` in model order.
    static func enumSet(_ enumText: String) -> String {
        "Member must satisfy enum value set: " + enumText
    }

    /// Map key constraints are reported once per map, listing all of the key shape's
    /// constraints (EventBridge, Lambda, DynamoDB messages). Unsure for SageMaker.
    static func mapKeys(_ summary: String) -> String {
        "Map keys must satisfy constraint: [" + summary + "]"
    }

    /// As ``mapKeys(_:)``, for values (Cognito `logins`, DynamoDB `requestItems`).
    static func mapValues(_ summary: String) -> String {
        "Map value must satisfy constraint: [" + summary + "]"
    }

    // MARK: The frame

    /// `Value '<rendered>' at '<path>' failed to satisfy constraint: <clause>`, or
    /// `Value null at ...` when the value is absent.
    static func violation(rendered: String?, path: String, constraint: String) -> String {
        let value = rendered.map { "'" + $0 + "'" } ?? "null"
        return "Value " + value + " at '" + path + "' failed to satisfy constraint: " + constraint
    }

    // MARK: SerializationException

    static let listNotExpected = "Start of list found where not expected"
    static let objectNotExpected = "Start of structure or map found where not expected."
    static let expectedList = "Expected list or null"
    static let expectedMap = "Expected map or null"
    /// What DynamoDB says for a scalar where a structure is expected.
    static let expectedStructure = "Expected null"

    /// `javaType` is the Java class Coral converts to: `String`, `Integer`, `Double`,
    /// `Boolean`, ...
    static func numberNotConvertible(to javaType: String) -> String {
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an "
            + javaType
    }

    static func booleanNotConvertible(to javaType: String) -> String {
        "class java.lang.Boolean can not be converted to an " + javaType
    }

    static func stringNotConvertible(to javaType: String) -> String {
        "class java.lang.String can not be converted to an " + javaType
    }

    /// DynamoDB upper-cases the string it quotes.
    static func stringNotBoolean(_ value: String) -> String {
        "'" + value.uppercased() + "' can not be converted to an Boolean"
    }

    /// Trainyard's own wording (no Coral text known): DynamoDB's Coral truncates `1.5` to 1 for
    /// integer members (dynalite floors it); Trainyard rejects non-integral numbers and numbers
    /// beyond `Int64` instead, which a client can only send on purpose.
    static func notAnInteger(_ rendered: String, path: String) -> String {
        "Cannot deserialize " + rendered + " as an Integer for member '" + path
            + "': not an integral number within 64 bits"
    }

    /// Trainyard's own wording (no Coral text known): timestamps are epoch seconds as a JSON
    /// number, or an ISO-8601 date-time string.
    static func notATimestamp(_ rendered: String, path: String) -> String {
        "Cannot deserialize " + rendered + " as a Timestamp for member '" + path
            + "': expected epoch seconds or an ISO-8601 date-time"
    }
}
