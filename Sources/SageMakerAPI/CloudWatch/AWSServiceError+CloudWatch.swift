/// CloudWatch's errors. The model is `awsQueryCompatible`: over JSON 1.0 the body's `__type` is
/// the error shape's name and the `x-amzn-query-error: <Code>;Sender` header carries the code
/// query clients know, which botocore reports as the error code (botocore `parsers.py`
/// `_do_query_compatible_error_parse`; codes from botocore cloudwatch 2010-08-01 error shapes).
extension AWSServiceError {
    static func invalidParameterValue(_ message: String) -> AWSServiceError {
        AWSServiceError(
            code: "com.amazonaws.cloudwatch#InvalidParameterValueException", message: message,
            queryErrorCode: "InvalidParameterValue")
    }

    static func invalidParameterCombination(_ message: String) -> AWSServiceError {
        AWSServiceError(
            code: "com.amazonaws.cloudwatch#InvalidParameterCombinationException", message: message,
            queryErrorCode: "InvalidParameterCombination")
    }

    /// "The parameter StartTime is required." is the query API's wording for a missing parameter.
    static func missingParameter(_ name: String) -> AWSServiceError {
        AWSServiceError(
            code: "com.amazonaws.cloudwatch#MissingRequiredParameterException",
            message: "The parameter \(name) is required.", queryErrorCode: "MissingParameter")
    }

    static let invalidCloudWatchNextToken = AWSServiceError(
        code: "com.amazonaws.cloudwatch#InvalidNextToken", message: "The service returned an invalid NextToken.",
        queryErrorCode: "InvalidNextToken")
}
