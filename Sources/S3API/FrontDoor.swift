public import EventHTTP
import Foundation
public import SageMakerAPI

/// The one port's dispatcher (issue 11 item 5: one `AWS_ENDPOINT_URL` for every client). Requests
/// are told apart by what they are, the way botocore shapes them:
///
/// | client | shape |
/// |---|---|
/// | sagemaker, logs (JSON 1.1), cloudwatch (JSON 1.0) | `POST /` with `X-Amz-Target`, scope `sagemaker`/`logs`/`monitoring` |
/// | s3 (REST-XML) | any method on `/bucket/key` or `bucket.localhost`, scope `s3` (header, or `X-Amz-Credential` when presigned), no `X-Amz-Target` |
/// | sts, iam (query) | form-encoded `POST /` with `Action=`, scope `sts`/`iam` |
///
/// Unsigned requests (`--auth none` lets them through) are told apart by shape alone: a target
/// header, an `application/x-amz-json-*` body or a `/SageMaker.<Op>` path is SageMaker; a form
/// `POST /` naming an STS or IAM action goes there; `/health` and `/metrics` stay the server's;
/// everything else is S3.
public final class FrontDoor: HTTPResponder {
    let sagemaker: SageMakerService
    let s3: S3Service
    let query: QueryAPIService

    public init(sagemaker: SageMakerService, s3: S3Service, query: QueryAPIService) {
        self.sagemaker = sagemaker
        self.s3 = s3
        self.query = query
    }

    enum Route: Equatable {
        case sagemaker
        case s3
        case sts
        case iam
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch Self.route(request) {
        case .sagemaker: await sagemaker.respond(to: request)
        case .s3: s3.respond(to: request)
        case .sts: query.respond(to: request, service: "sts")
        case .iam: query.respond(to: request, service: "iam")
        }
    }

    public func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse? {
        guard Self.route(request) == .sagemaker else { return nil }
        return sagemaker.respondOnLoopThread(to: request)
    }

    static let stsActions: Set<String> = ["GetCallerIdentity", "AssumeRole", "GetSessionToken", "GetAccessKeyInfo"]
    static let iamActions: Set<String> = ["GetRole", "SimulatePrincipalPolicy", "ListRoles", "GetUser", "CreateRole"]

    static func route(_ request: HTTPRequest) -> Route {
        if request.headers["x-amz-target"] != nil { return .sagemaker }
        if let service = signingService(request) {
            switch service {
            case "s3": return .s3
            case "sts": return .sts
            case "iam": return .iam
            default: return .sagemaker
            }
        }
        // Unsigned.
        if S3Request.virtualHostBucket(request.headers["host"]) != nil { return .s3 }
        // The JSON protocol's content type is never S3's: such a request meant SageMaker or Logs.
        if let contentType = request.headers["content-type"], contentType.lowercased().hasPrefix("application/x-amz-json") {
            return .sagemaker
        }
        switch (request.method, request.path) {
        case ("GET", "/health"), ("HEAD", "/health"), ("GET", "/metrics"):
            return .sagemaker
        // The web dashboard (SageMakerAPI's DashboardAssets): an unsigned GET / from a browser, and
        // its files under /_dashboard/ (no bucket name starts with "_"). SDKs sign ListBuckets.
        case ("GET", "/"), ("HEAD", "/"):
            return .sagemaker
        case ("GET", let path) where path.hasPrefix("/_dashboard/"):
            return .sagemaker
        case ("POST", "/"):
            let contentType = request.headers["content-type"]?.lowercased() ?? ""
            if contentType.hasPrefix("application/x-www-form-urlencoded") {
                let form = WireFormats.parseQuery(String(decoding: request.body, as: UTF8.self), plusIsSpace: true)
                if let action = form.first(where: { $0.name == "Action" })?.value {
                    if stsActions.contains(action) { return .sts }
                    if iamActions.contains(action) { return .iam }
                }
            }
            return .sagemaker
        case ("POST", let path)
        where path.hasPrefix("/SageMaker.") || path.hasPrefix("/Logs_") || path.hasPrefix("/GraniteServiceVersion20100801."):
            return .sagemaker
        default:
            return .s3
        }
    }

    /// The service of the SigV4 credential scope, from the Authorization header or a presigned URL.
    static func signingService(_ request: HTTPRequest) -> String? {
        if let header = request.headers["authorization"], let range = header.range(of: "Credential=") {
            return scopeService(header[range.upperBound...].prefix { $0 != "," && $0 != " " })
        }
        if let query = request.query, query.contains("AWSAccessKeyId="), query.contains("Signature=") {
            return "s3"  // a SigV2 presigned URL: only S3 has them
        }
        if let query = request.query, query.contains("X-Amz-Credential=") {
            for pair in query.split(separator: "&") where pair.hasPrefix("X-Amz-Credential=") {
                let value = pair.dropFirst("X-Amz-Credential=".count)
                return WireFormats.percentDecode(value).flatMap { scopeService(Substring($0)) }
            }
        }
        return nil
    }

    /// `AKID/20261206/us-east-1/s3/aws4_request` → `s3`.
    static func scopeService(_ credential: Substring) -> String? {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 5 ? String(parts[3]) : nil
    }
}
