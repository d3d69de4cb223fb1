public import EventHTTP
import Foundation
public import JobStore
public import Logging
public import TrainingCore

/// The HTTP face of Trainyard: AWS JSON 1.1 (`POST /` with `X-Amz-Target: SageMaker.<Op>`), the
/// path form `POST /SageMaker.<Op>` for curl and generated clients, and `GET /health`. CloudWatch
/// Logs targets (`Logs_20140328.<Op>`, both forms) go to ``CloudWatchLogsOperations``.
public final class SageMakerService: HTTPResponder {
    public struct Configuration: Sendable {
        public var region: String
        public var account: String
        /// Per-account instance quotas CreateTrainingJob enforces (ResourceLimitExceeded).
        public var instanceQuotas: InstanceQuotas
        /// Prefixes under which `file://` URIs are accepted (`--allow-file-uris`); empty: none.
        public var allowedFileURIPrefixes: [String]
        public init(
            region: String = "us-east-1", account: String = "123456789012", instanceQuotas: InstanceQuotas = .unlimited,
            allowedFileURIPrefixes: [String] = ["/"]
        ) {
            self.region = region
            self.account = account
            self.instanceQuotas = instanceQuotas
            self.allowedFileURIPrefixes = allowedFileURIPrefixes
        }
    }

    let store: JobStore
    let configuration: Configuration
    let logger: Logger
    let operations: TrainingJobOperations
    let logOperations: CloudWatchLogsOperations
    let metricOperations: CloudWatchOperations
    /// Extra readiness checks for /health (e.g. "is the container engine reachable").
    let healthChecks: [@Sendable () async -> String?]
    /// Who a request acts for: the configured account (`--auth none`) or the signer's (`--auth sigv4`).
    let authenticator: any RequestAuthenticator
    /// The Prometheus text exposition for GET /metrics (the executable owns the registry).
    let metricsExporter: (@Sendable () async -> [UInt8])?

    public init(
        store: JobStore, configuration: Configuration, logger: Logger,
        authenticator: (any RequestAuthenticator)? = nil,
        healthChecks: [@Sendable () async -> String?] = [],
        metricsExporter: (@Sendable () async -> [UInt8])? = nil
    ) throws {
        self.metricsExporter = metricsExporter
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.authenticator = authenticator ?? NoAuthentication(account: configuration.account)
        self.healthChecks = healthChecks
        let tokens = try PaginationTokens(store: store)
        self.operations = try TrainingJobOperations(
            store: store, tokens: tokens, instanceQuotas: configuration.instanceQuotas,
            allowedFileURIPrefixes: configuration.allowedFileURIPrefixes)
        self.logOperations = CloudWatchLogsOperations(store: store.logs, tokens: tokens, eventIDs: try LogEventIDs(store: store))
        self.metricOperations = CloudWatchOperations(store: store, tokens: tokens)
    }

    /// The 413 body the HTTP server sends for an oversized request.
    public static var oversizedBodyResponse: HTTPResponse {
        errorResponse(
            AWSServiceError(code: "RequestEntityTooLargeException", message: "Request body is too large.", status: 413),
            requestID: RequestIDs.next())
    }

    /// The 400 the HTTP server sends for a request with ambiguous framing (two Content-Length fields,
    /// or one beside Transfer-Encoding). SerializationException: what AWS JSON services answer for a
    /// request they cannot read; the SDKs surface it without retrying.
    public static var ambiguousFramingResponse: HTTPResponse {
        errorResponse(
            AWSServiceError(
                code: "SerializationException",
                message: "The request has ambiguous framing: more than one Content-Length, or Content-Length with Transfer-Encoding.",
                status: 400),
            requestID: RequestIDs.next())
    }

    /// The 503 the HTTP server sends when too many requests are in progress. Status 503 alone makes
    /// every AWS SDK retry (a transient error in botocore's and the v3 SDKs' retry rules), and the
    /// code ThrottlingException, which AWS services use for "slow down", also makes clients in
    /// botocore's adaptive mode lower their request rate, rather than retry at full speed.
    public static var overloadedResponse: HTTPResponse {
        errorResponse(
            AWSServiceError(code: "ThrottlingException", message: "Too many requests in progress; retry later.", status: 503),
            requestID: RequestIDs.next())
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        let requestID = RequestIDs.next()
        switch (request.method, request.path) {
        case ("GET", "/health"), ("HEAD", "/health"):
            return await health(requestID: requestID)
        case ("GET", "/metrics") where metricsExporter != nil:
            return HTTPResponse(
                status: 200,
                headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("x-amzn-RequestId", requestID)]),
                body: await metricsExporter?() ?? [])
        case _ where DashboardAssets.serves(request):
            return DashboardAssets.response(for: request)
        case ("POST", _):
            return dispatch(request, requestID: requestID)
        default:
            return Self.errorResponse(
                AWSServiceError(
                    code: "UnknownOperationException",
                    message: "No operation at \(request.method) \(request.path). Send POST / with X-Amz-Target: SageMaker.<Operation>, or POST /SageMaker.<Operation>.",
                    status: 404),
                requestID: requestID)
        }
    }

    /// Answered on the HTTP loop thread: DescribeTrainingJob and ListTags, each one indexed lookup
    /// on a read-only connection that never waits for the writer (JobStore's ReadConnections) plus
    /// a small encoding; and ListTrainingJobs without filters, one page of an ordered index (a few
    /// hundred microseconds; measured ~20% more pages per second than on the pool). Everything else
    /// — writes, which wait for a commit, and filtered lists or log reads, which can scan — runs on
    /// the pool, so it cannot stall the loop.
    static let loopThreadTargets: Set<String> = ["SageMaker.DescribeTrainingJob", "SageMaker.ListTags"]
    /// ListTrainingJobs members that keep a page an index walk: no filter.
    static let loopThreadListMembers: Set<String> = ["MaxResults", "NextToken", "SortBy", "SortOrder"]
    /// Larger bodies are parsed on the pool, whatever the operation.
    static let loopThreadBodyLimit = 16 << 10

    public func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse? {
        guard request.method == "POST", request.body.count <= Self.loopThreadBodyLimit,
            let target = try? Self.target(of: request)
        else { return nil }
        if Self.loopThreadTargets.contains(target) {
            return dispatch(request, requestID: RequestIDs.next())
        }
        if target == "SageMaker.ListTrainingJobs", let body = try? Self.parseBody(request.body),
            case .object(let members) = body, members.keys.allSatisfy(Self.loopThreadListMembers.contains)
        {
            return dispatch(request, requestID: RequestIDs.next(), parsedBody: body)
        }
        return nil
    }

    /// Answers one API request and counts it in /metrics by operation and outcome.
    /// - Parameter parsedBody: the request body, when the caller already parsed it.
    private func dispatch(_ request: HTTPRequest, requestID: String, parsedBody: JSONValue? = nil) -> HTTPResponse {
        let started = ContinuousClock.now
        var operation = "unknown"
        let response = dispatch(request, requestID: requestID, parsedBody: parsedBody, operation: &operation)
        APIMetrics.record(
            operation: operation, outcome: response.status < 300 ? "success" : response.headers["x-amzn-ErrorType"] ?? "error",
            duration: ContinuousClock.now - started)
        return response
    }

    private func dispatch(
        _ request: HTTPRequest, requestID: String, parsedBody: JSONValue?, operation label: inout String
    ) -> HTTPResponse {
        do {
            let target = try Self.target(of: request)
            // CloudWatch Logs requests are signed for the service "logs" (the logs model has no
            // signingName, so botocore signs with its endpointPrefix).
            let logsOperation = try CloudWatchLogsOperations.operationName(target: target)
            // CloudWatch (metrics) speaks AWS JSON 1.0 and is signed for "monitoring" (its endpointPrefix).
            let metricsOperation = logsOperation == nil ? try CloudWatchOperations.operationName(target: target) : nil
            let operation = try logsOperation ?? metricsOperation ?? Self.operationName(target: target)
            label = operation
            // Authenticate before reading the body, as AWS does: an unsigned request learns nothing more.
            let service = logsOperation != nil ? "logs" : metricsOperation != nil ? "monitoring" : "sagemaker"
            let account = try authenticator.account(for: request, service: service)
            let context = RequestContext(account: account, region: configuration.region, requestID: requestID)
            try Self.checkContentType(request.headers["content-type"])
            let input = try parsedBody ?? Self.parseBody(request.body)
            let output = try logsOperation != nil
                ? logOperations.perform(operation, input: input, context: context)
                : metricsOperation != nil
                    ? metricOperations.perform(operation, input: input, context: context)
                    : operations.perform(operation, input: input, context: context)
            let contentType = metricsOperation != nil ? "application/x-amz-json-1.0" : "application/x-amz-json-1.1"
            switch output {
            case .value(let output):
                return Self.jsonResponse(status: 200, body: output, requestID: requestID, contentType: contentType)
            case .encoded(let bytes):
                return HTTPResponse(
                    status: 200,
                    headers: HTTPHeaders([("Content-Type", contentType), ("x-amzn-RequestId", requestID)]),
                    body: bytes)
            }
        } catch let error as AWSServiceError {
            if error.status >= 500 {
                logger.error("request failed", metadata: ["request.id": "\(requestID)", "error": "\(error.message)"])
            }
            return Self.errorResponse(error, requestID: requestID)
        } catch let error as JobStoreError {
            let rendered = AWSServiceError(error)
            if rendered.status >= 500 {
                logger.error("request failed", metadata: ["request.id": "\(requestID)", "error": "\(error)"])
            }
            return Self.errorResponse(rendered, requestID: requestID)
        } catch {
            logger.error("unexpected error", metadata: ["request.id": "\(requestID)", "error": "\(error)"])
            return Self.errorResponse(.internalFailure("We encountered an internal error. Please try again."), requestID: requestID)
        }
    }

    /// The `X-Amz-Target` header, or the path form's last path segment.
    static func target(of request: HTTPRequest) throws(AWSServiceError) -> String {
        if let header = request.headers["x-amz-target"], !header.isEmpty { return header }
        if request.path != "/" {
            return String(request.path.dropFirst())
        }
        throw AWSServiceError(
            code: "UnknownOperationException",
            message: "Missing X-Amz-Target header. Send X-Amz-Target: SageMaker.<Operation>, or POST /SageMaker.<Operation>.")
    }

    static func operationName(target: String) throws(AWSServiceError) -> String {
        let prefix = "SageMaker."
        guard target.hasPrefix(prefix) else {
            throw .unknownOperation(
                "Unknown target prefix in \(target); this endpoint serves SageMaker.<Operation>, Logs_20140328.<Operation> and GraniteServiceVersion20100801.<Operation>.")
        }
        let name = String(target.dropFirst(prefix.count))
        guard TrainingJobOperations.names.contains(name) else {
            throw .unknownOperation("Operation \(name) is not supported by Trainyard.")
        }
        return name
    }

    /// AWS JSON 1.1 bodies are `application/x-amz-json-1.1`; the 1.0 variant and plain JSON are
    /// accepted too. A missing Content-Type is tolerated (curl without -H); anything else is refused.
    static func checkContentType(_ contentType: String?) throws(AWSServiceError) {
        guard let contentType else { return }
        // On the UTF-8 bytes: Foundation's trimmingCharacters(in:) bridges through NSString and
        // cost ~6% of a DescribeTrainingJob (perf), Character-based splitting half of that.
        var media = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while media.first == UInt8(ascii: " ") || media.first == UInt8(ascii: "\t") { media.removeFirst() }
        while media.last == UInt8(ascii: " ") || media.last == UInt8(ascii: "\t") { media.removeLast() }
        let mediaType = String(decoding: media.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        let accepted = ["application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json"]
        guard accepted.contains(mediaType) else {
            throw AWSServiceError(
                code: "UnsupportedMediaTypeException",
                message: "Content-Type \(mediaType) is not supported; send application/x-amz-json-1.1.", status: 415)
        }
    }

    /// botocore sends `{}` for an operation without parameters; an empty body is treated the same.
    static func parseBody(_ body: [UInt8]) throws(AWSServiceError) -> JSONValue {
        if body.isEmpty || body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return .object([:])
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw .serialization("The request body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw .serialization("The request body must be a JSON object.") }
        return value
    }

    private func health(requestID: String) async -> HTTPResponse {
        var problems: [String] = []
        do {
            try store.ping()
        } catch {
            problems.append("database: \(error)")
        }
        for check in healthChecks {
            if let problem = await check() { problems.append(problem) }
        }
        let body: JSONValue = .object([
            "status": .string(problems.isEmpty ? "ok" : "unavailable"),
            "problems": .array(problems.map(JSONValue.string)),
        ])
        return Self.jsonResponse(status: problems.isEmpty ? 200 : 503, body: body, requestID: requestID, contentType: "application/json")
    }

    static func jsonResponse(
        status: Int, body: JSONValue, requestID: String, contentType: String = "application/x-amz-json-1.1"
    ) -> HTTPResponse {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        body.write(into: &bytes)
        return HTTPResponse(
            status: status,
            headers: HTTPHeaders([("Content-Type", contentType), ("x-amzn-RequestId", requestID)]),
            body: bytes)
    }

    static func errorResponse(_ error: AWSServiceError, requestID: String) -> HTTPResponse {
        var response = jsonResponse(status: error.status, body: error.body, requestID: requestID)
        // rest-json clients read the code from this header; AWS JSON services send it too.
        response.headers.add(name: "x-amzn-ErrorType", value: error.code)
        if let queryCode = error.queryErrorCode {
            response.headers.add(name: "x-amzn-query-error", value: "\(queryCode);\(error.status >= 500 ? "Receiver" : "Sender")")
        }
        return response
    }
}
