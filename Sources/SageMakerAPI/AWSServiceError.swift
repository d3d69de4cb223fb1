/// An error as AWS JSON 1.1 clients read it: `{"__type": code, "message": text}` with an HTTP
/// status. Only this module renders errors (DESIGN §7.4). Every client mistake is a 4xx: a 5xx makes
/// boto3 retry and hides the message (botocore retry handler; reference api-fidelity §1).
public struct AWSServiceError: Error, Sendable, Equatable {
    public var code: String
    public var message: String
    public var status: Int
    /// For awsQueryCompatible services (CloudWatch): the query code sent as `x-amzn-query-error`.
    public var queryErrorCode: String?

    public init(code: String, message: String, status: Int = 400, queryErrorCode: String? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.queryErrorCode = queryErrorCode
    }

    public static func validation(_ message: String) -> AWSServiceError {
        AWSServiceError(code: "ValidationException", message: message)
    }

    /// Describe, Stop, Update and the tag operations answer a missing job with ValidationException,
    /// not ResourceNotFound (boto3#2808, aws-sdk#165; the waiter's error acceptor relies on it).
    public static let resourceNotFound = validation("Requested resource not found.")

    /// One or more constraint violations, in Coral's format.
    public static func violations(_ violations: [String]) -> AWSServiceError {
        validation(ShapeValidator.message(for: violations))
    }

    public static func serialization(_ message: String) -> AWSServiceError {
        AWSServiceError(code: "SerializationException", message: message)
    }

    public static func unknownOperation(_ message: String) -> AWSServiceError {
        AWSServiceError(code: "UnknownOperationException", message: message)
    }

    public static func internalFailure(_ message: String) -> AWSServiceError {
        AWSServiceError(code: "InternalFailure", message: message, status: 500)
    }

    var body: JSONValue {
        .object(["__type": .string(code), "message": .string(message)])
    }
}
