/// One shape of a botocore service model (`service-2.json`), reduced to what the wire format and
/// validation need. Shapes refer to each other **by name** (the model has recursive shapes);
/// resolve names with ``SageMakerShapes/named(_:)``.
///
/// Constraints are exactly the model's: `min`/`max` are lengths for strings (in Unicode scalars;
/// see ``ShapeValidator``), element counts for lists and maps, and values for numbers. `pattern`
/// is the model's Java regular expression, which must match the whole value.
///
/// The cases are generated from botocore's model by `scripts/codegen/generate_shapes.py` into
/// ``SageMakerShapes``.
public indirect enum Shape: Sendable {
    /// A JSON object. `members` maps the wire name to the member; `required` lists the required
    /// wire names in model order. Each member's ``Member/position`` gives the model order.
    case structure(members: [String: Member], required: [String])
    /// A JSON array of the shape named `member`.
    case list(member: String, min: Int?, max: Int?)
    /// A JSON object whose keys are of shape `key` and values of shape `value`.
    case map(key: String, value: String, min: Int?, max: Int?)
    /// A JSON string; `enumValues` in model order.
    case string(min: Int?, max: Int?, pattern: String?, enumValues: [String]?)
    /// botocore `integer` and `long`: a JSON integer.
    case integer(min: Int64?, max: Int64?)
    /// botocore `float` and `double`: a JSON number.
    case double(min: Double?, max: Double?)
    /// A JSON `true`/`false`.
    case boolean
    /// Epoch seconds as a JSON number (botocore's `unixTimestamp` for the JSON protocol).
    case timestamp
    /// Base64 text in a JSON string.
    case blob
}

/// A member of a structure shape.
public struct Member: Sendable, Equatable {
    /// The name of the member's shape.
    public var shape: String
    /// The member's index in the model's member list (model order, from 0). Structures keep
    /// their members in a dictionary keyed by wire name; this restores the order validation
    /// reports violations in.
    public var position: Int

    /// Creates a member of shape `shape` at model position `position`.
    public init(shape: String, position: Int = 0) {
        self.shape = shape
        self.position = position
    }
}

extension Shape {
    /// The members of a structure in model order (empty for other shapes).
    public var orderedMembers: [(name: String, member: Member)] {
        guard case .structure(let members, _) = self else { return [] }
        return members.map { (name: $0.key, member: $0.value) }
            .sorted { $0.member.position < $1.member.position }
    }
}
