import EventHTTP
import Foundation

/// The web dashboard's files: `GET /` (the page) and `GET /_dashboard/<file>`. The page talks to
/// the public API only (SageMaker, CloudWatch Logs and CloudWatch, signed in the browser when the
/// server checks signatures), so these files are all the dashboard adds to the server.
///
/// Chart.js comes from Debian's `libjs-chart.js` (3.9.1 on bookworm), read from its installed
/// path when first asked for, not embedded: Debian's security updates then reach the page
/// without a rebuild, and building needs no browser library. Without the package the page works
/// and says that charts need it. Bucket names cannot start with `_` (S3 bucket naming rules), so
/// `/_dashboard/` never shadows a bucket of the S3 API.
enum DashboardAssets {
    static let prefix = "/_dashboard/"
    static let chartJSPath = "/usr/share/javascript/chart.js/chart.min.js"

    /// Whether a GET is the dashboard's: its files, or `/` from a browser. An S3 ListBuckets is
    /// also `GET /` but always signed (an Authorization header or a presigned query).
    static func serves(_ request: HTTPRequest) -> Bool {
        guard request.method == "GET" || request.method == "HEAD" else { return false }
        if request.path.hasPrefix(prefix) { return true }
        return request.path == "/" && request.headers["authorization"] == nil
            && !(request.query ?? "").contains("X-Amz-Signature")
    }

    static func response(for request: HTTPRequest) -> HTTPResponse {
        let name = request.path == "/" ? "index.html" : String(request.path.dropFirst(prefix.count))
        let file: (contentType: String, bytes: [UInt8])?
        if name == "chart.min.js" {
            file = chartJS.map { ("text/javascript; charset=utf-8", $0) }
        } else {
            file = embedded[name].map { ($0.contentType, Array($0.text.utf8)) }
        }
        guard let file else {
            return HTTPResponse(
                status: 404, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]),
                body: Array("Not found: \(request.path)\n".utf8))
        }
        let headers = HTTPHeaders([
            ("Content-Type", file.contentType),
            // The page is small and changes with the server: revalidate each time.
            ("Cache-Control", name == "chart.min.js" ? "max-age=86400" : "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            // Everything the page loads or calls is on this origin.
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"),
        ])
        return HTTPResponse(status: 200, headers: headers, body: request.method == "HEAD" ? [] : file.bytes)
    }

    /// Read once; nil when libjs-chart.js is not installed.
    static let chartJS: [UInt8]? = FileManager.default.contents(atPath: chartJSPath).map { Array($0) }
}
