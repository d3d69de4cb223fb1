/// Who is asking, and where: the caller's account scopes every job they see.
public struct RequestContext: Sendable {
    public var account: String
    public var region: String
    public var requestID: String

    public init(account: String, region: String, requestID: String) {
        self.account = account
        self.region = region
        self.requestID = requestID
    }

    public func trainingJobARN(_ name: String) -> String {
        "arn:aws:sagemaker:\(region):\(account):training-job/\(name)"
    }
}
