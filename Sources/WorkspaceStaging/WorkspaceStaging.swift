public import ContainerRuntime
public import EventHTTP
public import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Workspace staging through Trainyard's own HTTP API: how a training container gets its `/opt/ml`
/// on a machine that does not share the server's disk (a remote DOCKER_HOST, a Swarm node), with
/// the container contract unchanged (same paths and files, `train`, PID 1 = the image's
/// entrypoint, SIGTERM straight to it).
///
/// DESIGN. The scheduler still lays out each host's workspace on the server's disk and still
/// reads the failure file and packs `model.tar.gz` from it; only the runtime layer changes:
/// 1. `plan` turns every bind mount of the training container into a named volume on the node
///    (one per mount, same target: `/opt/ml/code` in the image stays visible, as DESIGN §4 asks).
/// 2. Stage-in: before the training container exists, a helper container of the staging image
///    (FROM scratch + static busybox; StagingImage) mounts the volumes and runs
///    `wget -O - <advertise-url>/_trainyard/staging/<token>/in | tar -x`; the server answers with a
///    tar of the host's prepared workspace (`respond(to:)`).
/// 3. The training container runs with the volumes (no bind mount of a server folder).
/// 4. Stage-out: once it has exited, a helper tars the volumes that are not input-only and POSTs
///    the archive to `.../<token>/out`; the server unpacks it into the workspace with
///    SafeTarExtractor (the archive is the user's: regular files and folders only, no link is
///    followed, bounded size). Only then does the runtime report the exit, so the scheduler finds
///    the failure file and the model where it always did.
/// 5. The volumes go when the training container is removed.
/// Tokens (StagingTokens) are HMACs of the container and the direction, accepted only while that
/// transfer is open (`open`), so a URL is worth nothing before or after its phase. StagingRuntime
/// drives this for any `ContainerRuntime`; a backend supplies a `StagingEngine` (volumes and helper
/// runs on the node).
public final class WorkspaceStaging: Sendable {
    public let tokens: StagingTokens
    /// Where the server's files go while an archive is made or received (unlinked at once).
    public let spoolDirectory: URL
    /// Largest stage-out archive accepted, and most bytes of files kept from it.
    public let maxOutputBytes: Int64
    let advertise: @Sendable () -> AdvertisedAddress?
    /// A line for the log of the job a training container belongs to (by its labels).
    let notice: @Sendable (_ labels: [String: String], _ text: String) -> Void
    let logger: Logger
    private let sessions = Mutex<[String: Session]>([:])

    /// What an open transfer may touch: the volumes of one training container, one direction.
    struct Session: Sendable {
        var container: String
        var labels: [String: String]
        var volumes: [StagedVolume]
        var direction: StagingDirection
    }

    public static let pathPrefix = "/_trainyard/staging/"

    /// - Parameters:
    ///   - advertise: the server's address as nodes see it (`--advertise-url`); nil until known
    ///     (the default address needs the bound port).
    public init(
        tokens: StagingTokens, spoolDirectory: URL, maxOutputBytes: Int64,
        advertise: @escaping @Sendable () -> AdvertisedAddress?,
        notice: @escaping @Sendable (_ labels: [String: String], _ text: String) -> Void = { _, _ in },
        logger: Logger
    ) {
        self.tokens = tokens
        self.spoolDirectory = spoolDirectory
        self.maxOutputBytes = maxOutputBytes
        self.advertise = advertise
        self.notice = notice
        self.logger = logger
    }

    // MARK: Planning

    /// The staged form of a training container: bind mounts become volumes
    /// `<container>.stage<index>`; `/opt/ml/input` (and below) is sent in only.
    public func plan(_ spec: ContainerSpec) -> StagedContainer {
        var training = spec
        var volumes: [StagedVolume] = []
        training.mounts = spec.mounts.enumerated().map { index, mount in
            guard mount.kind == .bind else { return mount }
            let volume = StagedVolume(
                name: "\(spec.name).stage\(index)", target: mount.target, source: mount.source,
                inputOnly: mount.target == "/opt/ml/input" || mount.target.hasPrefix("/opt/ml/input/"), readOnly: mount.readOnly)
            volumes.append(volume)
            return ContainerSpec.Mount(source: volume.name, target: mount.target, readOnly: mount.readOnly, kind: .volume)
        }
        var plan = StagedContainer(training: training, volumes: volumes)
        if let json = try? JSONEncoder().encode(volumes) {
            plan.training.labels[StagedContainer.stagingLabel] = String(decoding: json, as: UTF8.self)
        }
        plan.training.mounts = plan.training.mounts.map { mount in
            var mount = mount
            if let volume = volumes.first(where: { $0.name == mount.source }) { mount.volumeLabels = plan.volumeLabels(volume) }
            return mount
        }
        return plan
    }

    /// The plan of a container from its labels (as `inspect` returns them); nil if not staged.
    public func plan(name: String, labels: [String: String]) -> StagedContainer? {
        guard let volumes = StagedContainer.volumes(fromLabels: labels) else { return nil }
        return StagedContainer(training: ContainerSpec(name: name, image: "", labels: labels, hostname: ""), volumes: volumes)
    }

    /// The helper container for `direction`, with the token of this container and direction.
    public func helper(for plan: StagedContainer, _ direction: StagingDirection, image: String) throws(StagingError) -> ContainerSpec {
        guard let address = advertise() else { throw StagingError("the server's address is not known yet") }
        return plan.helper(direction, image: image, advertise: address, token: tokens.token(container: plan.training.name, direction: direction))
    }

    // MARK: Transfers

    /// Accepts `direction`'s URL for `plan`'s container until `close` (the helper has exited).
    public func open(_ plan: StagedContainer, _ direction: StagingDirection) -> StagingTransfer {
        let token = tokens.token(container: plan.training.name, direction: direction)
        sessions.withLock {
            $0[token] = Session(container: plan.training.name, labels: plan.training.labels, volumes: plan.volumes, direction: direction)
        }
        return StagingTransfer(token: token, staging: self)
    }

    func close(token: String) {
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }

    /// The open session a request's token names (compared in constant time against each).
    func session(token: String, direction: StagingDirection) -> Session? {
        sessions.withLock { sessions in
            sessions.first { StagingTokens.constantTimeEqual($0.key, token) && $0.value.direction == direction }?.value
        }
    }

    /// `/_trainyard/staging/<token>/<in|out>` → its parts.
    static func parse(path: String) -> (token: String, direction: StagingDirection)? {
        guard path.hasPrefix(pathPrefix) else { return nil }
        let parts = path.dropFirst(pathPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let direction = StagingDirection(rawValue: String(parts[1])) else { return nil }
        return (String(parts[0]), direction)
    }

    public static func isStagingPath(_ path: String) -> Bool { path.hasPrefix(pathPrefix) }

    // MARK: HTTP

    /// Answers a staging request (`isStagingPath`); never reads a path from the request.
    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard let (token, direction) = Self.parse(path: request.path) else { return Self.plain(404, "no such staging resource") }
        switch (request.method, direction) {
        case ("GET", .stageIn):
            guard let session = session(token: token, direction: .stageIn) else { return Self.forbidden }
            return stageInResponse(session)
        case ("POST", .stageOut):
            let spooled = request.streamedBody as? SpooledBody
            guard let session = session(token: token, direction: .stageOut) else { return Self.forbidden }
            if request.streamedBody is RefusedBody { return tooLarge(session) }
            if let spooled, spooled.tooLarge { return tooLarge(session) }
            let body: SpooledBody
            if let spooled {
                body = spooled
            } else {
                // Small enough for evhttp to buffer (the streaming consumer takes every body it is offered).
                guard Int64(request.body.count) <= maxOutputBytes else { return tooLarge(session) }
                do {
                    body = try SpooledBody.make(in: spoolDirectory, limit: maxOutputBytes)
                    request.body.withUnsafeBytes { body.append($0) }
                } catch {
                    return Self.plain(500, error.description)
                }
            }
            return stageOutResponse(session, body: body)
        default:
            return Self.plain(405, "method not allowed")
        }
    }

    static let forbidden = plain(403, "this staging URL is not valid now")

    static func plain(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain"], body: Array((text + "\n").utf8))
    }

    private func tooLarge(_ session: Session) -> HTTPResponse {
        notice(session.labels, "outputs of \(session.labels["trainyard.host"] ?? session.container) exceed the staging limit of \(maxOutputBytes) bytes: not kept")
        return Self.plain(413, "the outputs exceed the staging limit of \(maxOutputBytes) bytes")
    }

    /// A tar of the workspace folders behind the volumes, from an unlinked spool file (sendfile).
    private func stageInResponse(_ session: Session) -> HTTPResponse {
        do {
            let fd = try Self.anonymousFile(in: spoolDirectory)
            var writer = TarWriter(fd: fd)
            do throws(StagingError) {
                for (index, volume) in session.volumes.enumerated() { try writer.addTree(root: volume.source, prefix: String(index)) }
                try writer.finish()
            } catch {
                Glibc.close(fd)
                throw error
            }
            lseek(fd, 0, SEEK_SET)
            logger.debug("staging in", metadata: ["container": "\(session.container)", "bytes": "\(writer.bytesWritten)"])
            return HTTPResponse(
                status: 200, headers: ["Content-Type": "application/x-tar"],
                file: FileBody(fd: fd, offset: 0, length: writer.bytesWritten))
        } catch {
            logger.warning("cannot stage in", metadata: ["container": "\(session.container)", "error": "\(error)"])
            return Self.plain(500, "cannot make the workspace archive")
        }
    }

    private func stageOutResponse(_ session: Session, body: SpooledBody) -> HTTPResponse {
        var roots: [String: String] = [:]
        var shown: [String: String] = [:]
        for (index, volume) in session.volumes.enumerated() where !volume.inputOnly {
            roots[String(index)] = volume.source
            shown[String(index)] = volume.target
        }
        let extractor = SafeTarExtractor(roots: roots, displayRoots: shown, limitBytes: maxOutputBytes)
        lseek(body.fd, 0, SEEK_SET)
        do {
            let report = try extractor.extract(from: body.fd)
            for line in report.notes { notice(session.labels, "staging out: \(line)") }
            logger.debug(
                "staged out",
                metadata: ["container": "\(session.container)", "files": "\(report.files)", "bytes": "\(report.bytes)"])
            return Self.plain(200, "staged out \(report.files) files, \(report.bytes) bytes")
        } catch {
            notice(session.labels, "staging out failed: \(error.description)")
            return Self.plain(400, error.description)
        }
    }

    /// A file with no name: nothing is left behind whatever happens to the server.
    static func anonymousFile(in directory: URL) throws(StagingError) -> Int32 {
        var template = Array(directory.appendingPathComponent("spool-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw StagingError("cannot make a spool file in \(directory.path): \(String(cString: strerror(errno)))") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }
}

/// An open transfer; `close()` makes its URL invalid again.
public struct StagingTransfer: Sendable {
    public let token: String
    let staging: WorkspaceStaging
    public func close() { staging.close(token: token) }
}

/// A stage-out body as it arrived, in an unlinked file; closed when released.
final class SpooledBody: Sendable {
    let fd: Int32
    let limit: Int64
    private let state = Mutex<(length: Int64, tooLarge: Bool)>((0, false))

    private init(fd: Int32, limit: Int64) {
        self.fd = fd
        self.limit = limit
    }

    static func make(in directory: URL, limit: Int64) throws(StagingError) -> SpooledBody {
        SpooledBody(fd: try WorkspaceStaging.anonymousFile(in: directory), limit: limit)
    }

    var tooLarge: Bool { state.withLock { $0.tooLarge } }

    func append(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            guard !state.tooLarge else { return }
            // The archive holds headers and padding besides the files: allow 1/16 more.
            guard state.length + Int64(bytes.count) <= limit + limit / 16 + (1 << 20) else {
                state.tooLarge = true
                return
            }
            var offset = 0
            while offset < bytes.count {
                let count = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    state.tooLarge = true  // out of disk: refused like an oversized body
                    return
                }
                offset += count
            }
            state.length += Int64(bytes.count)
        }
    }

    deinit { close(fd) }
}

/// Takes stage-out bodies as they arrive (EventHTTP's RequestBodyStreaming), into a spool file;
/// other requests go to `inner` (S3 uploads).
public struct StagingBodyStreaming: RequestBodyStreaming {
    let staging: WorkspaceStaging
    let inner: (any RequestBodyStreaming)?

    public init(staging: WorkspaceStaging, inner: (any RequestBodyStreaming)?) {
        self.staging = staging
        self.inner = inner
    }

    public func bodyConsumer(for head: HTTPRequestHead) -> (any RequestBodyConsumer)? {
        guard WorkspaceStaging.isStagingPath(head.path) else { return inner?.bodyConsumer(for: head) }
        // Refused requests still have their body read (and dropped) so the answer can be sent.
        let body = (try? SpooledBody.make(in: staging.spoolDirectory, limit: staging.maxOutputBytes))
        let valid = WorkspaceStaging.parse(path: head.path).flatMap { staging.session(token: $0.token, direction: $0.direction) } != nil
        return SpoolConsumer(body: valid && head.contentLength <= staging.maxOutputBytes + staging.maxOutputBytes / 16 + (1 << 20) ? body : nil)
    }
}

final class SpoolConsumer: RequestBodyConsumer {
    let body: SpooledBody?
    init(body: SpooledBody?) { self.body = body }
    func consume(_ bytes: UnsafeRawBufferPointer) { body?.append(bytes) }
    func finish() -> any Sendable { body ?? RefusedBody() }
}

/// A body that was read and dropped (bad token, too large).
struct RefusedBody: Sendable {}

/// Answers the staging URLs in front of the server's other APIs (which would take them for S3
/// keys and ask for a signature: the token is the credential here).
public struct StagingRouter: HTTPResponder {
    let inner: any HTTPResponder
    let staging: WorkspaceStaging

    public init(inner: any HTTPResponder, staging: WorkspaceStaging) {
        self.inner = inner
        self.staging = staging
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        if WorkspaceStaging.isStagingPath(request.path) { return await staging.respond(to: request) }
        return await inner.respond(to: request)
    }

    public func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse? {
        if WorkspaceStaging.isStagingPath(request.path) { return nil }
        return inner.respondOnLoopThread(to: request)
    }
}

/// The server's address for helpers, known once the server has bound its port.
public final class AdvertisedAddressBox: Sendable {
    private let value = Mutex<AdvertisedAddress?>(nil)
    public init() {}
    public func set(_ address: AdvertisedAddress) { value.withLock { $0 = address } }
    public func get() -> AdvertisedAddress? { value.withLock { $0 } }
}
