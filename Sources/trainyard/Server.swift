import ArgumentParser
import ContainerRuntime
import DockerEngine
import EventHTTP
import Foundation
import JobStore
import Logging
import ObjectStore
import S3API
import SageMakerAPI
import Scheduler
import SimulatedRuntime
import TrainingCore

#if canImport(Glibc)
import Glibc
#endif

/// The wired-up process: store, runtime, scheduler and HTTP server; the only place concrete types meet.
struct Server {
    let http: HTTPServer
    let schedulerTask: Task<Void, Never>
    let logger: Logger

    static func start(_ config: ServeConfiguration, logger: Logger) async throws -> Server {
        let dataDir = URL(fileURLWithPath: config.dataDir)
        do {
            try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
            let probe = dataDir.appendingPathComponent(".write-probe-\(getpid())")
            try Data().write(to: probe)
            try FileManager.default.removeItem(at: probe)
        } catch {
            throw fail("the data directory \(config.dataDir) is not writable: \(fileErrorText(error))")
        }

        if let held = DataDirectoryLock.acquire(dataDir: config.dataDir) {
            throw fail(held)
        }

        let store: JobStore
        let instanceID: String
        do {
            store = try JobStore(path: config.databasePath)
            instanceID = try store.instanceID()
        } catch {
            throw fail(error.description)
        }

        let metrics = MetricsExporter(store: store)
        metrics.bootstrap()

        let runtime: any ContainerRuntime
        // Containers of jobs that are not network-isolated reach the S3 API through a gateway in
        // their own network namespace, with keys minted per job (ContainerCredentials.swift).
        let gateway = ContainerGateway(logger: logger)
        let jobKeys: JobKeys
        do {
            jobKeys = try JobKeys.load(dataDir: dataDir)
        } catch {
            throw fail("the data directory \(config.dataDir) is not writable: \(error)")
        }
        var s3Access: TrainingContainer.S3Access?
        switch config.runtime {
        case .docker:
            do {
                let docker = try DockerRuntime(host: config.dockerHost, logger: logger)
                runtime = GatewayRuntime(docker: docker, gateway: gateway, logger: logger)
            } catch {
                throw fail("--docker-host \(config.dockerHost): \(error)")
            }
            // Entering a container's network namespace needs root; without it containers stay
            // on network `none` with no S3 (README "Containers and S3").
            if getuid() == 0 {
                s3Access = TrainingContainer.S3Access(
                    port: { gateway.upstreamPort }, credentials: { jobKeys.credentials(jobID: $0.id) })
            } else {
                logger.warning("not running as root: training containers cannot reach the S3 API")
            }
        case .simulated:
            runtime = try SimulatedRuntime(
                stateDirectory: dataDir.appendingPathComponent("simulated-containers"),
                defaultTrainingSeconds: config.simulatedPhaseSeconds)
        }

        // S3, STS and IAM on the same port (issue 11): one AWS_ENDPOINT_URL for every client.
        let objectStore: ObjectStore
        do {
            objectStore = try ObjectStore(root: config.resolvedS3Root, databasePath: config.databasePath, defaultAccount: config.accountID)
        } catch {
            throw fail("--s3-root \(config.resolvedS3Root): \(error.message)")
        }
        let guards = WorkspaceGuards(
            allowedFilePrefixes: config.allowedFileURIPrefixes,
            notice: { job, text in JobLogNotes.append(text, to: job, store: store, logger: logger) },
            // A copy stops once the job is no longer InProgress (StopTrainingJob; issue 12 item 9).
            shouldContinue: { job in (try? store.job(id: job.id))?.status == .inProgress },
            // The S3 API's buckets: a job reads and writes only its own account's (issue 12 item 3).
            bucketOwners: ObjectStoreBucketOwners(store: objectStore))
        // Simulated containers read nothing, so their workspaces are laid out only when something
        // goes into them (channel data, a failure file), unless the user keeps them to look at.
        let workspaces = LocalWorkspaces(
            root: dataDir.appendingPathComponent("workspaces"), s3Root: config.resolvedS3Root,
            keepAfterEnd: config.keepWorkspaces, layOutUpFront: config.runtime == .docker || config.keepWorkspaces,
            guards: guards)
        try? FileManager.default.createDirectory(at: workspaces.root, withIntermediateDirectories: true)
        let scheduler = TrainingScheduler(
            store: store, runtime: runtime, workspaces: workspaces,
            configuration: .init(
                stopGrace: .milliseconds(Int64(config.stopGraceSeconds * 1000)),
                minimumPhaseDuration: config.runtime == .simulated
                    ? .milliseconds(Int64(config.simulatedPhaseSeconds * 1000)) : .zero,
                container: .init(
                    region: config.region, networkMode: config.containerNetwork, shmSizeBytes: config.shmSizeBytes,
                    s3Access: s3Access, instanceID: instanceID,
                    applyInstanceLimits: config.containerLimits == .instanceType),
                maxConcurrentJobs: config.maxConcurrentJobs > 0 ? config.maxConcurrentJobs : nil),
            logger: logger)

        let runtimeHealth: @Sendable () async -> String? = {
            do {
                try await runtime.ping()
                return nil
            } catch {
                return "container runtime: \(error)"
            }
        }
        var authenticator: (any RequestAuthenticator)?
        var credentials: Credentials?
        if config.auth == .sigv4, let path = config.credentialsFile {
            do {
                credentials = try Credentials.load(path: path)
                authenticator = SigV4Authenticator(credentials: credentials!, region: config.region)
            } catch {
                throw fail(error.description)
            }
        }
        let containerAware = ContainerAwareAuthenticator(
            inner: authenticator ?? NoAuthentication(account: config.accountID), keys: jobKeys, store: store,
            region: config.region)
        let service = try SageMakerService(
            store: store,
            configuration: .init(
                region: config.region, account: config.accountID, instanceQuotas: config.instanceQuotas,
                allowedFileURIPrefixes: config.allowedFileURIPrefixes),
            logger: logger,
            authenticator: containerAware, healthChecks: [runtimeHealth], metricsExporter: { metrics.export() })

        let s3 = S3Service(
            store: objectStore,
            authenticator: S3Authenticator(
                credentials: credentials, defaultAccount: config.accountID, region: config.region,
                extraKeys: { request throws(S3Error) in try containerAware.s3Entry(for: request) }),
            region: config.region, logger: logger)
        let frontDoor = FrontDoor(
            sagemaker: service, s3: s3,
            query: QueryAPIService(
                authenticator: containerAware, credentials: credentials,
                defaultAccount: config.accountID))

        var httpConfiguration = HTTPServer.Configuration()
        httpConfiguration.host = config.host
        httpConfiguration.port = config.port
        httpConfiguration.maxBodyBytes = config.maxBodyBytes
        httpConfiguration.loopThreads = config.httpThreads
        httpConfiguration.requestTimeoutSeconds = config.requestTimeoutSeconds
        let http = HTTPServer(
            configuration: httpConfiguration, responder: ContainerRequestFilter(inner: frontDoor, keys: jobKeys),
            oversizedBodyResponse: SageMakerService.oversizedBodyResponse,
            errorLog: { message in logger.warning("http: \(message)") },
            bodyStreaming: S3BodyStreaming(s3: s3))
        let port: Int
        do {
            port = try http.start()
        } catch {
            throw fail(error.description)
        }
        gateway.setUpstream(.init(host: config.host, port: port))
        let schedulerTask = Task { await scheduler.run() }
        // The trigram index behind NameContains is filled in batches, off the request path
        // (JobStore.indexNewJobNames).
        runPeriodically(every: .seconds(1)) {
            do {
                try store.indexNewJobNames()
            } catch {
                logger.warning("could not index new job names", metadata: ["error": "\(error)"])
            }
        }
        if config.logRetentionDays > 0 {
            let days = Int64(config.logRetentionDays)
            // Hourly is plenty for a retention counted in days.
            runPeriodically(every: .seconds(3600)) {
                let cutoff = Timestamp(epochSeconds: Date().timeIntervalSince1970).adding(seconds: -days * 86_400)
                if let deleted = try? store.deleteLogEvents(olderThan: cutoff), deleted > 0 {
                    logger.info("expired old log lines", metadata: ["log.lines": "\(deleted)", "log.retention.days": "\(days)"])
                }
            }
        }
        logger.info(
            "trainyard listening",
            metadata: [
                "address": "http://\(config.host):\(port)", "runtime": "\(config.runtime.rawValue)",
                "data.dir": "\(config.dataDir)", "stop.grace.seconds": "\(config.stopGraceSeconds)",
            ])
        // A line tests and scripts can wait for.
        FileHandle.standardOutput.write(Data("trainyard listening on http://\(config.host):\(port)\n".utf8))
        return Server(http: http, schedulerTask: schedulerTask, logger: logger)
    }

    /// Runs `chore` now and then every `interval`, in a detached task that is never awaited: it
    /// ends with the process.
    private static func runPeriodically(every interval: Duration, _ chore: @escaping @Sendable () -> Void) {
        Task.detached {
            while !Task.isCancelled {
                chore()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, drains requests in flight and exits,
    /// leaving training containers running for the next start to adopt.
    func runUntilSignalled() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        let sources = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        for await number in signals {
            logger.info("shutting down", metadata: ["signal": "\(number)"])
            break
        }
        sources.forEach { $0.cancel() }
        await http.shutdown(drainTimeout: .seconds(5))
        schedulerTask.cancel()
        logger.info("stopped")
    }
}
