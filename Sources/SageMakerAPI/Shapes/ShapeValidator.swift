import Foundation

/// Checks a request body against a shape of the SageMaker model the way the service's
/// framework (Coral, AWS JSON 1.1) does, producing its `SerializationException` and
/// `ValidationException` messages.
///
/// Two phases, as Coral deserializes before it validates:
/// 1. JSON types. A member of the wrong JSON type (a string for an integer, an object for a
///    list, `1.5` or a number beyond `Int64` for an integer, anything but a number or an ISO-8601
///    string for a timestamp), or a body that is not an object, is a serialization error; the
///    first one found (model member order, depth-first) is reported. Unknown members are
///    ignored, as Coral ignores them. JSON `null` for a member means "absent".
/// 2. Constraints. Every violation is collected — required members, string/list/map lengths,
///    integer ranges, patterns, enums — in model member order, depth-first; within one member:
///    pattern, then length, then range, then enum (real messages list the pattern clause before
///    the length clause: DynamoDB `tableName`, Cognito `confirmationCode`, STS
///    `roleSessionName`). Coral's own order between members is not the model order (DynamoDB
///    reports `writeCapacityUnits` before `readCapacityUnits`) and is not reproducible;
///    model order is at least stable. No cap on the number of violations (dynalite stops at 10
///    for DynamoDB; unverified for SageMaker).
///
/// Paths are Coral's: member names with the first letter lower-cased, joined with `.`; list
/// elements as `<list>.<1-based index>.member`, e.g. `inputDataConfig.1.member.channelName`.
/// Map violations are reported at the map's path, once for keys and once for values (`Map keys
/// must satisfy constraint: [...]`, `Map value must satisfy constraint: [...]`, listing all of
/// the key/value shape's constraints), as EventBridge, Lambda and DynamoDB messages show them
/// (unsure for SageMaker); members nested deeper inside map values get `<map>.<key>`
/// (unsure; no map in the SageMaker training operations has non-string values).
///
/// Lengths of strings count Unicode scalars (code points), not UTF-16 code units: Smithy's
/// `@length` is defined on code points, and STS reports a single "😀" (two UTF-16 units) as
/// shorter than a minimum of 2 (public test suite of an STS re-implementation quoting AWS).
///
/// Values in messages: strings as they are, numbers in plain form, `null` unquoted; lists as
/// `[a, b]` and maps/structures as `{k=v, k2=v2}` with sorted keys, like Java's `toString` (the
/// exact rendering of structures is unknown; Coral's key order cannot be reproduced).
public struct ShapeValidator: Sendable {
    private let model: CompiledShapeModel
    /// Compiled patterns by node index; `nil` where the shape has no pattern or where neither
    /// engine compiles it (the pattern is then skipped; `generate_shapes.py` lists such
    /// patterns, and there are none in botocore 1.43.11's training operations).
    private let patterns: [JavaPattern?]

    /// A validator for the shapes of `table` (by default the SageMaker shapes in ``SageMakerShapes``).
    public init(table: ShapeTable = .sageMaker) {
        self.model = table.model
        self.patterns = table.patterns
    }

    /// A validator whose patterns for the named shapes are replaced.
    ///
    /// Use it to widen a pattern for a Trainyard extension, e.g. to let `S3Uri` also accept
    /// `file:///abs/dir`: `ShapeValidator(patternOverrides: ["S3Uri": #"(https|s3|file)://([^/]*)/?(.*)"#])`.
    /// Messages still quote the model's pattern, as the real service would.
    ///
    /// - Parameters:
    ///   - table: the service model whose shapes are validated.
    ///   - patternOverrides: Java regular expressions by shape name.
    /// - Precondition: each name is a string shape of the model and each pattern compiles.
    public init(table: ShapeTable = .sageMaker, patternOverrides: [String: String]) {
        let model = table.model
        var patterns = table.patterns
        for (shapeName, pattern) in patternOverrides {
            guard let index = model.indexByName[shapeName], case .string = model.nodes[index] else {
                preconditionFailure("pattern override for \(shapeName): not a string shape of the model")
            }
            guard let compiled = JavaPattern(pattern) else {
                preconditionFailure("pattern override for \(shapeName) does not compile: \(pattern)")
            }
            patterns[index] = compiled
        }
        self.model = model
        self.patterns = patterns
    }

    /// Validates `value` against the shape named `shape` (normally an operation's input shape,
    /// from ``SageMakerShapes/operations`` or ``CloudWatchLogsShapes/operations``).
    /// - Precondition: `shape` is a shape of the model.
    public func validate(_ value: JSONValue, shape: String) -> ShapeValidation {
        guard let root = model.indexByName[shape] else {
            preconditionFailure("unknown shape \(shape)")
        }
        var walk = Walk(model: model, patterns: patterns)
        do {
            try walk.check(value, node: root)
        } catch {
            return .serializationError(error.message)
        }
        return walk.violations.isEmpty ? .valid : .invalid(walk.violations)
    }

    /// The `ValidationException` message for `violations`:
    /// `1 validation error detected: <v>` or `N validation errors detected: <v1>; <v2>`.
    public static func message(for violations: [String]) -> String {
        let count = violations.count
        let noun = count == 1 ? "error" : "errors"
        return "\(count) validation \(noun) detected: " + violations.joined(separator: "; ")
    }

    /// Patterns of the SageMaker model that neither Swift `Regex` nor `NSRegularExpression`
    /// compiles, and that validation therefore skips.
    public static var uncompilablePatterns: [String] {
        uncompilablePatterns(in: .sageMaker)
    }

    /// Patterns of `table`'s model that no engine compiles (skipped by validation).
    public static func uncompilablePatterns(in table: ShapeTable) -> [String] {
        zip(table.model.nodes, table.patterns).compactMap { node, compiled in
            guard case .string(let rules) = node, let pattern = rules.pattern, compiled == nil else {
                return nil
            }
            return pattern
        }
    }
}

/// Ends the walk at the first value of a wrong JSON type.
private struct SerializationFailure: Error {
    let message: String
}

/// One validation run: the path to the current value and the violations found so far.
private struct Walk {
    enum PathComponent {
        case member(String)
        case index(Int)
        case key(String)
    }

    let model: CompiledShapeModel
    let patterns: [JavaPattern?]
    var path: [PathComponent] = []
    var violations: [String] = []

    init(model: CompiledShapeModel, patterns: [JavaPattern?]) {
        self.model = model
        self.patterns = patterns
        path.reserveCapacity(8)
    }

    /// Checks a present (non-null) value. With `own` false, the value's own constraints are
    /// skipped (a map entry's are summarised at the map) but everything nested is checked.
    mutating func check(_ value: JSONValue, node index: Int, own: Bool = true) throws(SerializationFailure) {
        switch model.nodes[index] {
        case .structure(let fields):
            guard case .object(let object) = value else {
                throw failure(value, expected: ValidationText.expectedStructure)
            }
            for field in fields {
                path.append(.member(field.pathName))
                defer { path.removeLast() }
                if let member = object[field.name], !member.isNull {
                    try check(member, node: field.node)
                } else if field.required {
                    report(nil, ValidationText.notNull)
                }
            }

        case .list(let element, let min, let max):
            guard case .array(let elements) = value else {
                throw failure(value, expected: ValidationText.expectedList)
            }
            if own { checkLength(elements.count, min: min, max: max, value: value) }
            for (offset, item) in elements.enumerated() {
                path.append(.index(offset + 1))
                defer { path.removeLast() }
                // A null element: unsure what Coral says; reported as a missing member.
                if item.isNull {
                    report(nil, ValidationText.notNull)
                } else {
                    try check(item, node: element)
                }
            }

        case .map(let keyNode, let valueNode, let min, let max):
            guard case .object(let object) = value else {
                throw failure(value, expected: ValidationText.expectedMap)
            }
            if own { checkLength(object.count, min: min, max: max, value: value) }
            try checkMap(object, value: value, keyNode: keyNode, valueNode: valueNode)

        case .string(let rules):
            guard case .string(let string) = value else {
                throw failure(value, javaType: "String")
            }
            if own { checkString(string, rules: rules, node: index, value: value) }

        case .integer(let min, let max):
            let int: Int64
            switch value {
            case .int(let exact):
                int = exact
            case .double(let double):
                // Integral doubles (`1.0`, `1e2`) are accepted; Coral truncates any number.
                guard let exact = Int64(exactly: double) else {
                    throw SerializationFailure(
                        message: ValidationText.notAnInteger(Self.render(value), path: renderedPath())
                    )
                }
                int = exact
            default:
                throw failure(value, javaType: "Integer")
            }
            if own, let min, int < min { report(value, ValidationText.valueAtLeast(String(min))) }
            if own, let max, int > max { report(value, ValidationText.valueAtMost(String(max))) }

        case .double(let min, let max):
            guard let double = value.doubleValue else {
                throw failure(value, javaType: "Double")
            }
            if own, let min, double < min { report(value, ValidationText.valueAtLeast(String(min))) }
            if own, let max, double > max { report(value, ValidationText.valueAtMost(String(max))) }

        case .boolean:
            guard case .bool = value else {
                throw failure(value, javaType: "Boolean")
            }

        case .timestamp:
            switch value {
            case .int, .double:
                break
            case .string(let string) where Self.isISO8601(string):
                break
            case .string, .bool:
                throw SerializationFailure(
                    message: ValidationText.notATimestamp(Self.render(value), path: renderedPath())
                )
            default:
                throw failure(value, javaType: "Timestamp")
            }

        case .blob:
            guard case .string = value else {
                throw failure(value, javaType: "ByteBuffer")
            }
        }
    }

    private mutating func checkString(
        _ string: String, rules: CompiledShapeModel.StringRules, node: Int, value: JSONValue
    ) {
        if let pattern = patterns[node], !pattern.wholeMatches(string), let text = rules.pattern {
            report(value, ValidationText.pattern(text))
        }
        if rules.min != nil || rules.max != nil {
            checkLength(string.unicodeScalars.count, min: rules.min, max: rules.max, value: value)
        }
        if let enumValues = rules.enumValues, !enumValues.contains(string), let text = rules.enumText {
            report(value, ValidationText.enumSet(text))
        }
    }

    private mutating func checkLength(_ length: Int, min: Int?, max: Int?, value: JSONValue) {
        if let min, length < min { report(value, ValidationText.lengthAtLeast(min)) }
        if let max, length > max { report(value, ValidationText.lengthAtMost(max)) }
    }

    /// Keys and values of a map: their own constraints are reported once per map, at the map's
    /// path; anything nested inside a value is checked in place, with the key in the path.
    private mutating func checkMap(
        _ object: [String: JSONValue],
        value: JSONValue,
        keyNode: Int,
        valueNode: Int
    ) throws(SerializationFailure) {
        var badKey = false
        var badValue = false
        var nullValue = false
        for key in object.keys.sorted() {
            let entry = object[key] ?? .null
            path.append(.key(key))
            defer { path.removeLast() }
            if !satisfiesOwnConstraints(.string(key), node: keyNode) { badKey = true }
            if entry.isNull {
                nullValue = true
                continue
            }
            try check(entry, node: valueNode, own: false)
            if !satisfiesOwnConstraints(entry, node: valueNode) { badValue = true }
        }
        let keySummary = model.constraintSummaries[keyNode]
        if badKey, !keySummary.isEmpty {
            report(value, ValidationText.mapKeys(keySummary))
        }
        if badValue || nullValue {
            var clauses = model.constraintSummaries[valueNode]
            if nullValue {
                // Unsure: a null map value is reported with a not-null clause added.
                clauses += clauses.isEmpty ? ValidationText.notNull : ", " + ValidationText.notNull
            }
            if !clauses.isEmpty { report(value, ValidationText.mapValues(clauses)) }
        }
    }

    /// Whether a value (already type-checked) meets its shape's own constraints — the ones
    /// Coral lists for a map key or value — ignoring anything nested inside it.
    private func satisfiesOwnConstraints(_ value: JSONValue, node: Int) -> Bool {
        func inRange(_ length: Int, _ min: Int?, _ max: Int?) -> Bool {
            (min.map { length >= $0 } ?? true) && (max.map { length <= $0 } ?? true)
        }
        switch (model.nodes[node], value) {
        case (.string(let rules), .string(let string)):
            if let pattern = patterns[node], !pattern.wholeMatches(string) { return false }
            if !inRange(string.unicodeScalars.count, rules.min, rules.max) { return false }
            if let enumValues = rules.enumValues, !enumValues.contains(string) { return false }
            return true
        case (.list(_, let min, let max), .array(let elements)):
            return inRange(elements.count, min, max)
        case (.map(_, _, let min, let max), .object(let object)):
            return inRange(object.count, min, max)
        case (.integer(let min, let max), _):
            guard let int = value.int64Value else { return true }
            return (min.map { int >= $0 } ?? true) && (max.map { int <= $0 } ?? true)
        case (.double(let min, let max), _):
            guard let double = value.doubleValue else { return true }
            return (min.map { double >= $0 } ?? true) && (max.map { double <= $0 } ?? true)
        default:
            return true
        }
    }

    // MARK: Reporting

    private mutating func report(_ value: JSONValue?, _ constraint: String) {
        violations.append(
            ValidationText.violation(
                rendered: value.map(Self.render),
                path: renderedPath(),
                constraint: constraint
            )
        )
    }

    private func failure(_ value: JSONValue, expected containerMessage: String) -> SerializationFailure {
        switch value {
        case .array: SerializationFailure(message: ValidationText.listNotExpected)
        case .object: SerializationFailure(message: ValidationText.objectNotExpected)
        default: SerializationFailure(message: containerMessage)
        }
    }

    private func failure(_ value: JSONValue, javaType: String) -> SerializationFailure {
        switch value {
        case .array: SerializationFailure(message: ValidationText.listNotExpected)
        case .object: SerializationFailure(message: ValidationText.objectNotExpected)
        case .int, .double: SerializationFailure(message: ValidationText.numberNotConvertible(to: javaType))
        case .bool: SerializationFailure(message: ValidationText.booleanNotConvertible(to: javaType))
        case .string(let string):
            javaType == "Boolean"
                ? SerializationFailure(message: ValidationText.stringNotBoolean(string))
                : SerializationFailure(message: ValidationText.stringNotConvertible(to: javaType))
        case .null: SerializationFailure(message: ValidationText.expectedStructure)
        }
    }

    private func renderedPath() -> String {
        var text = ""
        for component in path {
            switch component {
            case .member(let name):
                if !text.isEmpty { text += "." }
                text += name
            case .index(let index):
                text += ".\(index).member"
            case .key(let key):
                text += "." + key
            }
        }
        return text
    }

    /// A value as Coral prints it inside `Value '...'` (Java `toString` style; unsure for
    /// lists, maps and structures).
    static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let bool): bool ? "true" : "false"
        case .int(let int): String(int)
        case .double(let double): double.description
        case .string(let string): string
        case .array(let elements): "[" + elements.map(render).joined(separator: ", ") + "]"
        case .object(let object):
            "{"
                + object.sorted { $0.key < $1.key }.map { $0.key + "=" + render($0.value) }
                .joined(separator: ", ") + "}"
        }
    }

    static func isISO8601(_ string: String) -> Bool {
        (try? Date.ISO8601FormatStyle().parse(string)) != nil
    }
}
