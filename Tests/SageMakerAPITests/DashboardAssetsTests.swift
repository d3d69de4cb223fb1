import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing

/// `GET /` and `/_dashboard/*` through `SageMakerService.respond(to:)`.
struct DashboardAssetsTests {
    let service: SageMakerService

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-dash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        service = try SageMakerService(store: store, configuration: .init(), logger: Logger(label: "test"))
    }

    @Test("An unsigned GET / is the page; its files are served; a signed GET / is not the page")
    func routes() async {
        let page = await service.respond(to: HTTPRequest(method: "GET", path: "/"))
        #expect(page.status == 200)
        #expect(page.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(String(decoding: page.body, as: UTF8.self).contains("/_dashboard/app.js"))
        let script = await service.respond(to: HTTPRequest(method: "GET", path: "/_dashboard/sigv4.js"))
        #expect(script.status == 200 && script.headers["Content-Type"] == "text/javascript; charset=utf-8")
        #expect(await service.respond(to: HTTPRequest(method: "GET", path: "/_dashboard/nothing.js")).status == 404)
        let head = await service.respond(to: HTTPRequest(method: "HEAD", path: "/"))
        #expect(head.status == 200 && head.body.isEmpty)
        var signed = HTTPRequest(method: "GET", path: "/")
        signed.headers.add(name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=x")
        #expect(await service.respond(to: signed).status != 200)
        let presigned = HTTPRequest(method: "GET", path: "/", query: "X-Amz-Signature=00")
        #expect(await service.respond(to: presigned).status != 200)
    }
}
