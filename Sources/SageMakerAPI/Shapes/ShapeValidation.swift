/// The verdict of ``ShapeValidator/validate(_:shape:)`` on a request body.
public enum ShapeValidation: Equatable, Sendable {
    /// The value has the shape's JSON types and satisfies every constraint.
    case valid
    /// A value of the wrong JSON type (or a body that is not an object): AWS answers
    /// `400 SerializationException` with this message. Only the first one found is reported.
    case serializationError(String)
    /// Every constraint violation, each a complete Coral clause
    /// (`Value 'x' at 'a.b' failed to satisfy constraint: ...`), in model member order,
    /// depth-first. AWS answers `400 ValidationException` with
    /// ``ShapeValidator/message(for:)``.
    case invalid([String])
}
