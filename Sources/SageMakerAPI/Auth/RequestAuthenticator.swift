public import EventHTTP

/// Decides which AWS account a request acts for, or refuses it.
public protocol RequestAuthenticator: Sendable {
    /// - Parameter service: the SigV4 signing name the operation belongs to (`sagemaker`, `logs`).
    func account(for request: HTTPRequest, service: String) throws(AWSServiceError) -> String
}

/// `--auth none`: every request, signed or not, acts for the configured account (local use).
public struct NoAuthentication: RequestAuthenticator {
    public let account: String
    public init(account: String) { self.account = account }
    public func account(for request: HTTPRequest, service: String) throws(AWSServiceError) -> String { account }
}
