/// The shapes of a service model resolved once into an array indexed by integers, so that
/// validation does no name lookups (`SageMakerShapes.named` is a `switch` over ~200 strings) and
/// no sorting. Built once per process; immutable afterwards.
struct CompiledShapeModel: Sendable {
    /// One structure member, in model order.
    struct Field: Sendable {
        /// The wire (JSON) name, e.g. `InputDataConfig`.
        let name: String
        /// The name in a violation path: the wire name with its first letter lower-cased
        /// (`InputDataConfig` → `inputDataConfig`, `S3Uri` → `s3Uri`), as Coral prints it.
        let pathName: String
        /// Index of the member's shape in ``CompiledShapeModel/nodes``.
        let node: Int
        /// Whether the structure lists the member as required.
        let required: Bool
    }

    /// String constraints, with the texts of their messages prepared.
    struct StringRules: Sendable {
        let min: Int?
        let max: Int?
        /// The model's pattern text (shown in messages, even when an override is in force).
        let pattern: String?
        let enumValues: Set<String>?
        /// `[A, B, C]`, in model order.
        let enumText: String?
    }

    /// A resolved shape.
    enum Node: Sendable {
        case structure(fields: [Field])
        case list(element: Int, min: Int?, max: Int?)
        case map(key: Int, value: Int, min: Int?, max: Int?)
        case string(StringRules)
        case integer(min: Int64?, max: Int64?)
        case double(min: Double?, max: Double?)
        case boolean
        case timestamp
        case blob
    }

    /// The resolved shapes.
    let nodes: [Node]
    /// The shape name of each node (same indices as ``nodes``).
    let names: [String]
    /// Node index by shape name.
    let indexByName: [String: Int]
    /// For map keys and values: the shape's own constraints as Coral lists them inside
    /// `Map keys must satisfy constraint: [...]` (same indices as ``nodes``; empty when none).
    let constraintSummaries: [String]

    /// Resolves every shape reachable from `roots` through `resolve`.
    /// - Precondition: every referenced shape name resolves (the generator guarantees it).
    init(roots: [String], resolve: (String) -> Shape?) {
        var names: [String] = []
        var indexByName: [String: Int] = [:]
        var shapes: [Shape] = []
        var queue = roots
        while let name = queue.popLast() {
            guard indexByName[name] == nil else { continue }
            guard let shape = resolve(name) else {
                preconditionFailure("shape \(name) is referenced but not in the model")
            }
            indexByName[name] = names.count
            names.append(name)
            shapes.append(shape)
            switch shape {
            case .structure(let members, _):
                queue.append(contentsOf: members.values.map(\.shape))
            case .list(let member, _, _):
                queue.append(member)
            case .map(let key, let value, _, _):
                queue.append(key)
                queue.append(value)
            default:
                break
            }
        }
        let index = indexByName
        let nodes = shapes.map { shape -> Node in
            switch shape {
            case .structure:
                let required = Set(shape.requiredMembers)
                return .structure(
                    fields: shape.orderedMembers.map { name, member in
                        Field(
                            name: name,
                            pathName: Self.pathName(name),
                            node: index[member.shape]!,
                            required: required.contains(name)
                        )
                    }
                )
            case .list(let member, let min, let max):
                return .list(element: index[member]!, min: min, max: max)
            case .map(let key, let value, let min, let max):
                return .map(key: index[key]!, value: index[value]!, min: min, max: max)
            case .string(let min, let max, let pattern, let enumValues):
                return .string(
                    StringRules(
                        min: min,
                        max: max,
                        pattern: pattern,
                        enumValues: enumValues.map(Set.init),
                        enumText: enumValues.map { "[" + $0.joined(separator: ", ") + "]" }
                    )
                )
            case .integer(let min, let max):
                return .integer(min: min, max: max)
            case .double(let min, let max):
                return .double(min: min, max: max)
            case .boolean:
                return .boolean
            case .timestamp:
                return .timestamp
            case .blob:
                return .blob
            }
        }
        self.nodes = nodes
        self.names = names
        self.indexByName = indexByName
        self.constraintSummaries = nodes.map(Self.constraintSummary)
    }

    /// Coral's member path segment: only the first character is lower-cased.
    static func pathName(_ name: String) -> String {
        guard let first = name.first else { return name }
        return first.lowercased() + name.dropFirst()
    }

    /// The constraints of a map key/value shape, in the order real messages list them: length
    /// maximum, length minimum, pattern (EventBridge, captured by a user: `Map keys must satisfy
    /// constraint: [Member must have length less than or equal to 256, Member must have length
    /// greater than or equal to 1, Member must satisfy regular expression pattern: ...]`), then
    /// enum (order unsure); values: maximum, minimum (Lambda's `additionalVersionWeights`).
    static func constraintSummary(_ node: Node) -> String {
        var parts: [String] = []
        switch node {
        case .string(let rules):
            if let max = rules.max { parts.append(ValidationText.lengthAtMost(max)) }
            if let min = rules.min { parts.append(ValidationText.lengthAtLeast(min)) }
            if let pattern = rules.pattern { parts.append(ValidationText.pattern(pattern)) }
            if let enumText = rules.enumText { parts.append(ValidationText.enumSet(enumText)) }
        case .list(_, let min, let max), .map(_, _, let min, let max):
            if let max { parts.append(ValidationText.lengthAtMost(max)) }
            if let min { parts.append(ValidationText.lengthAtLeast(min)) }
        case .integer(let min, let max):
            if let max { parts.append(ValidationText.valueAtMost(String(max))) }
            if let min { parts.append(ValidationText.valueAtLeast(String(min))) }
        case .double(let min, let max):
            if let max { parts.append(ValidationText.valueAtMost(String(max))) }
            if let min { parts.append(ValidationText.valueAtLeast(String(min))) }
        case .structure, .boolean, .timestamp, .blob:
            break
        }
        return parts.joined(separator: ", ")
    }
}

extension Shape {
    /// The required member names of a structure, in model order (empty for other shapes).
    var requiredMembers: [String] {
        guard case .structure(_, let required) = self else { return [] }
        return required
    }
}
