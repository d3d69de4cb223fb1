/// CloudWatch Logs' errors (botocore logs model: every operation here declares
/// `InvalidParameterException` and `ResourceNotFoundException`).
extension AWSServiceError {
    /// CloudWatch Logs reports what other services call ValidationException as
    /// InvalidParameterException, with the same Coral text: "1 validation error detected: Value ''
    /// at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal
    /// to 1" (observed: fluent-plugin-cloudwatch-logs#116, #223; cisagov/crossfeed#374).
    static func invalidParameter(_ message: String) -> AWSServiceError {
        AWSServiceError(code: "InvalidParameterException", message: message)
    }

    /// Observed wording (boto3#1467, for FilterLogEvents; moto uses it for GetLogEvents too).
    static let invalidNextToken = invalidParameter("The specified nextToken is invalid.")

    /// Observed wording (epsagon/list-lambdas#5, osperlabs/logbeam#7).
    static let logGroupNotFound = AWSServiceError(
        code: "ResourceNotFoundException", message: "The specified log group does not exist.")

    /// Observed wording (prefect-aws#177 for GetLogEvents, percona/rds_exporter#81 for FilterLogEvents).
    static let logStreamNotFound = AWSServiceError(
        code: "ResourceNotFoundException", message: "The specified log stream does not exist.")
}
