/// A refusal as S3 reports it: an error code from the S3 API reference's list ("Error responses",
/// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), its HTTP status and a
/// message. Typed here, rendered as XML once, by S3API.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var status: Int
    /// Extra elements S3 puts in its <Error> (BucketName, Key, UploadId, ArgumentName, ...), in order.
    public var details: [(name: String, value: String)]

    public init(code: String, message: String, status: Int, details: [(String, String)] = []) {
        self.code = code
        self.message = message
        self.status = status
        self.details = details.map { (name: $0.0, value: $0.1) }
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: S3Error, rhs: S3Error) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.status == rhs.status
            && lhs.details.map(\.name) == rhs.details.map(\.name) && lhs.details.map(\.value) == rhs.details.map(\.value)
    }

    public static func noSuchBucket(_ bucket: String) -> S3Error {
        S3Error(code: "NoSuchBucket", message: "The specified bucket does not exist", status: 404, details: [("BucketName", bucket)])
    }

    public static func noSuchKey(_ key: String) -> S3Error {
        S3Error(code: "NoSuchKey", message: "The specified key does not exist.", status: 404, details: [("Key", key)])
    }

    public static func noSuchUpload(_ uploadID: String) -> S3Error {
        S3Error(
            code: "NoSuchUpload",
            message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            status: 404, details: [("UploadId", uploadID)])
    }

    public static func accessDenied(_ message: String = "Access Denied") -> S3Error {
        S3Error(code: "AccessDenied", message: message, status: 403)
    }

    public static func invalidArgument(_ message: String, name: String, value: String) -> S3Error {
        S3Error(code: "InvalidArgument", message: message, status: 400, details: [("ArgumentName", name), ("ArgumentValue", value)])
    }

    public static func invalidRequest(_ message: String) -> S3Error {
        S3Error(code: "InvalidRequest", message: message, status: 400)
    }

    public static func internalError(_ message: String) -> S3Error {
        S3Error(code: "InternalError", message: message, status: 500)
    }
}
