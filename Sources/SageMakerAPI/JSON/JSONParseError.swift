/// Why a request body is not JSON: invalid UTF-8, a syntax error, truncated input, trailing
/// bytes, a number out of `Double` range (`1e400`) or nesting deeper than Foundation's limit.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A short, human-readable reason (Foundation's own text where it has one).
    public var message: String

    /// Creates an error with the given reason.
    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
