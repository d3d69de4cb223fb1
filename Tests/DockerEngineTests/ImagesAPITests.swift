import ContainerRuntime
@testable import DockerEngine
import Foundation
import Logging
import Testing

/// Pull, tag and push against a fake engine (no engine or registry needed); the real pull from a
/// real registry is Tests/EndToEnd/test_registry.py.
@Suite("Docker images API")
struct ImagesAPITests {
    private static let version = #"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#
    private static let progress = """
        {"status":"Pulling from train/busybox","id":"1"}
        {"status":"Pulling fs layer","progressDetail":{},"id":"80006f739e49"}
        {"status":"Digest: sha256:fdf36a919d93168178d16a70f928dd52d350253fb3272caa54ab44c65948da9a"}
        {"status":"Status: Downloaded newer image for 127.0.0.1:5000/train/busybox:1"}

        """

    private func engine(_ answer: @escaping @Sendable (String, String) -> (Int, String)?) throws -> FakeEngine {
        try FakeEngine { method, path in
            if path == "/version" { return (200, Self.version) }
            return answer(method, path)
        }
    }

    private func runtime(_ engine: FakeEngine) throws -> DockerRuntime {
        try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
    }

    @Test("a pull sends the name and the tag (latest when none), and reads the stream to its end")
    func pulls() async throws {
        let engine = try engine { method, path in
            method == "POST" && path.hasPrefix("/v1.41/images/create?") ? (200, Self.progress) : (500, #"{"message":"unexpected"}"#)
        }
        defer { engine.stop() }
        let runtime = try runtime(engine)
        try await runtime.pullImage("127.0.0.1:5000/train/busybox:1")
        try await runtime.pullImage("127.0.0.1:5000/train/busybox")
        let digest = "sha256:" + String(repeating: "0", count: 64)
        try await runtime.pullImage("registry.example.com/img:2@\(digest)")
        #expect(
            engine.requests == [
                "GET /version",
                "POST /v1.41/images/create?fromImage=127.0.0.1%3A5000%2Ftrain%2Fbusybox&tag=1",
                "POST /v1.41/images/create?fromImage=127.0.0.1%3A5000%2Ftrain%2Fbusybox&tag=latest",
                "POST /v1.41/images/create?fromImage=registry.example.com%2Fimg&tag=sha256%3A\(digest.dropFirst(7))",
            ])
        #expect(runtime.pullsImages)
    }

    @Test("an error line in a 200 stream fails the pull with the registry's words")
    func streamError() async throws {
        let failed = Self.progress.replacingOccurrences(
            of: #"{"status":"Digest"#,
            with: #"{"errorDetail":{"message":"manifest for r/x:1 not found: manifest unknown"},"error":"manifest unknown"}"# + "\n" + #"{"status":"Digest"#)
        let engine = try engine { _, _ in (200, failed) }
        defer { engine.stop() }
        await #expect(throws: ContainerRuntimeError.imagePullFailed(image: "r/x:1", message: "manifest for r/x:1 not found: manifest unknown")) {
            try await runtime(engine).pullImage("r/x:1")
        }
    }

    @Test("a refusal before the stream (404, 500) fails the pull with the engine's message")
    func refused() async throws {
        let engine = try engine { _, _ in
            (500, #"{"message":"Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"}"#)
        }
        defer { engine.stop() }
        await #expect(
            throws: ContainerRuntimeError.imagePullFailed(
                image: "127.0.0.1:1/x:1", message: #"Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused"#)
        ) {
            try await runtime(engine).pullImage("127.0.0.1:1/x:1")
        }
    }

    @Test("a reference the grammar refuses is not sent to the engine")
    func badReference() async throws {
        let engine = try engine { _, _ in (200, Self.progress) }
        defer { engine.stop() }
        await #expect(throws: ContainerRuntimeError.imagePullFailed(image: "Bad Name", message: #"invalid reference format: "Bad Name""#)) {
            try await runtime(engine).pullImage("Bad Name")
        }
        #expect(engine.requests.isEmpty)
    }

    @Test("tag and push address the image by name; a push error line is thrown")
    func tagAndPush() async throws {
        let engine = try engine { method, path in
            switch (method, path) {
            case ("POST", let p) where p.hasPrefix("/v1.41/images/src:1/tag?"): (201, "")
            case ("POST", let p) where p.hasPrefix("/v1.41/images/missing/tag?"): (404, #"{"message":"No such image: missing"}"#)
            case ("POST", let p) where p.hasPrefix("/v1.41/images/127.0.0.1:5000/train/busybox/push?"):
                (200, #"{"status":"The push refers to repository"}"# + "\n" + #"{"errorDetail":{"message":"connection refused"},"error":"connection refused"}"# + "\n")
            default: (500, #"{"message":"unexpected \#(method) \#(path)"}"#)
            }
        }
        defer { engine.stop() }
        let runtime = try runtime(engine)
        try await runtime.tagImage("src:1", as: "127.0.0.1:5000/train/busybox:1")
        await #expect(throws: ContainerRuntimeError.noSuchImage("missing")) {
            try await runtime.tagImage("missing", as: "x:1")
        }
        await #expect(
            throws: ContainerRuntimeError.engine(status: 200, message: "pushing 127.0.0.1:5000/train/busybox:1 failed: connection refused")
        ) {
            try await runtime.pushImage("127.0.0.1:5000/train/busybox:1")
        }
        #expect(
            engine.requests.contains("POST /v1.41/images/src:1/tag?repo=127.0.0.1%3A5000%2Ftrain%2Fbusybox&tag=1")
                && engine.requests.contains("POST /v1.41/images/127.0.0.1:5000/train/busybox/push?tag=1"))
    }

    @Test("the progress reader finds an error line split across reads, and skips an over-long line")
    func sinkAcrossChunks() {
        let sink = ProgressStreamSink()
        let long = "{\"status\":\"" + String(repeating: "x", count: 70 << 10) + "\"}\n"
        let text = long + #"{"status":"Pulling"}"# + "\n" + #"{"errorDetail":{"message":"denied: requested access to the resource is denied"}}"#
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + 7)
            bytes[offset..<end].withUnsafeBytes { _ = sink.receive($0, status: 200) }
            offset = end
        }
        #expect(sink.failure == nil)  // the last line has no newline yet
        sink.finish()
        #expect(sink.failure == "denied: requested access to the resource is denied")
        #expect(sink.lastStatus == "Pulling")
    }
}
