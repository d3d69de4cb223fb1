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
import ServiceLifecycle
import UnixSignals
import TrainingCore
import WorkspaceStaging

#if canImport(Glibc)
import Glibc
#endif

/// The wired-up process: store, runtime, scheduler and HTTP server; the only place concrete types meet.
struct Server {
    /// Run by `run()`: the HTTP server last, so that it is the first to stop (Services.swift).
    let services: [any Service]
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

        let engineRuntime: any ContainerRuntime
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
        // `--workspace-staging api`: /opt/ml through volumes and this server's API (WorkspaceStaging).
        let advertised = AdvertisedAddressBox()
        var staging: WorkspaceStaging?
        switch config.runtime {
        case .docker:
            do {
                let docker = try DockerRuntime(host: config.dockerHost, logger: logger)
                // The image is imported into the very engine that runs the helpers (also a remote
                // one), so it is not pushed to --registry; the swarm's engine pushes it for its nodes.
                let stagingEngine = DockerStagingEngine(docker: docker, busybox: config.stagingBusybox, logger: logger)
                engineRuntime = try makeStagedRuntime(
                    GatewayRuntime(docker: docker, gateway: gateway, logger: logger), engine: stagingEngine, config: config,
                    dataDir: dataDir, advertised: advertised, store: store, logger: logger, staging: &staging)
                // In the background: a slow engine must not hold up the server's start.
                Task { await removeLeftoverJobNetworks(docker, instanceID: instanceID, store: store, logger: logger) }
                if config.workspaceStaging == .api {
                    Task { await removeLeftoverStagingVolumes(stagingEngine, instanceID: instanceID, store: store, logger: logger) }
                }
            } catch let error as ExitCode {
                throw error
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
        case .swarm:
            do {
                let swarm = try SwarmRuntime(
                    host: config.dockerHost,
                    options: .init(
                        constraints: config.swarmConstraints,
                        stopGraceNanoseconds: Int64(config.stopGraceSeconds * 1_000_000_000)),
                    logger: logger)
                // `--workspace-staging api` (the swarm default): volumes on the node that runs each
                // host, filled and emptied by helper services pinned there (SwarmStagingEngine).
                let stagingEngine = SwarmStagingEngine(
                    swarm: swarm, registry: config.registry ?? "", busybox: config.stagingBusybox, logger: logger)
                engineRuntime = try makeStagedRuntime(
                    swarm, engine: stagingEngine, config: config, dataDir: dataDir, advertised: advertised, store: store,
                    logger: logger, staging: &staging)
                Task {
                    await removeLeftoverSwarmServices(swarm, instanceID: instanceID, store: store, logger: logger)
                    // Only the manager's own: another node's volumes are out of the manager API's reach
                    // (emptied by their stage-out; README "Known limits").
                    if config.workspaceStaging == .api {
                        await removeLeftoverStagingVolumes(stagingEngine.images, instanceID: instanceID, store: store, logger: logger)
                    }
                }
            } catch let error as ExitCode {
                throw error
            } catch {
                throw fail("--docker-host \(config.dockerHost): \(error)")
            }
            // Containers on other nodes cannot reach this server's S3 gateway (it enters each
            // container's network namespace on this machine): README "Known limits".
        case .simulated:
            engineRuntime = try SimulatedRuntime(
                stateDirectory: dataDir.appendingPathComponent("simulated-containers"),
                defaultTrainingSeconds: config.simulatedPhaseSeconds)
        }

        // Jobs keep the image the user named; containers run the image --registry maps it to.
        let runtime: any ContainerRuntime = RegistryMappedRuntime(base: engineRuntime, registry: config.registry)

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
            keepAfterEnd: config.keepWorkspaces, layOutUpFront: config.runtime != .simulated || config.keepWorkspaces,
            guards: guards)
        try? FileManager.default.createDirectory(at: workspaces.root, withIntermediateDirectories: true)
        let logCaptures = LogCaptures(logs: store.logs)
        let scheduler = TrainingScheduler(
            store: store, runtime: runtime, workspaces: workspaces,
            configuration: .init(
                stopGrace: .milliseconds(Int64(config.stopGraceSeconds * 1000)),
                minimumPhaseDuration: config.runtime == .simulated
                    ? .milliseconds(Int64(config.simulatedPhaseSeconds * 1000)) : .zero,
                container: .init(
                    region: config.region, networkMode: config.containerNetwork, shmSizeBytes: config.shmSizeBytes,
                    s3Access: s3Access, instanceID: instanceID,
                    applyInstanceLimits: config.containerLimits == .instanceType, gpus: config.gpus == .none ? .none : .auto),
                maxConcurrentJobs: config.maxConcurrentJobs > 0 ? config.maxConcurrentJobs : nil),
            logCaptures: logCaptures, logger: logger)

        let storeHealth: @Sendable () async -> String? = {
            do {
                try store.probeWrite(now: Timestamp(epochSeconds: Date().timeIntervalSince1970))
                return nil
            } catch {
                return "database cannot commit: \(error)"
            }
        }
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
            authenticator: containerAware, healthChecks: [storeHealth, runtimeHealth], metricsExporter: { metrics.export() })

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
        let descriptorLimit = raiseDescriptorLimit(logger: logger)
        httpConfiguration.maxConnections =
            config.maxConnections ?? ServeConfiguration.defaultMaxConnections(descriptorLimit: descriptorLimit)
        let http = HTTPServer(
            configuration: httpConfiguration,
            responder: ContainerRequestFilter(
                inner: staging.map { StagingRouter(inner: frontDoor, staging: $0) } ?? frontDoor, keys: jobKeys),
            oversizedBodyResponse: SageMakerService.oversizedBodyResponse,
            badRequestResponse: SageMakerService.ambiguousFramingResponse,
            overloadedResponse: SageMakerService.overloadedResponse,
            errorLog: { message in logger.warning("http: \(message)") },
            bodyStreaming: staging.map { StagingBodyStreaming(staging: $0, inner: S3BodyStreaming(s3: s3)) } ?? S3BodyStreaming(s3: s3))
        let port: Int
        do {
            port = try http.start()
        } catch {
            throw fail(error.description)
        }
        gateway.setUpstream(.init(host: config.host, port: port))
        if staging != nil {
            let wildcard = config.host == "0.0.0.0" || config.host == "::" || config.host.contains(":")
            let url = config.advertiseURL ?? "http://\(wildcard ? "127.0.0.1" : config.host):\(port)"
            if config.runtime == .swarm, config.advertiseURL == nil, config.host.hasPrefix("127.") || wildcard {
                logger.warning(
                    "the swarm's nodes reach this server for staging at \(url): give --host an address they reach, or --advertise-url")
            }
            do {
                advertised.set(try AdvertisedAddress(parsing: url))
            } catch {
                throw fail(error.description)
            }
        }
        var services: [any Service] = [LogCaptureService(captures: logCaptures), SchedulerService(scheduler: scheduler)]
        // The trigram index behind NameContains is filled in batches, off the request path
        // (JobStore.indexNewJobNames).
        services.append(
            PeriodicChore(name: "index-job-names", interval: .seconds(1)) {
                do {
                    try store.indexNewJobNames()
                } catch {
                    logger.warning("could not index new job names", metadata: ["error": "\(error)"])
                }
            })
        if config.logRetentionDays > 0 {
            let days = Int64(config.logRetentionDays)
            // Hourly is plenty for a retention counted in days.
            services.append(
                PeriodicChore(name: "expire-log-lines", interval: .seconds(3600)) {
                    let cutoff = Timestamp(epochSeconds: Date().timeIntervalSince1970).adding(seconds: -days * 86_400)
                    if let deleted = try? store.logs.deleteLogEvents(olderThan: cutoff), deleted > 0 {
                        logger.info("expired old log lines", metadata: ["log.lines": "\(deleted)", "log.retention.days": "\(days)"])
                    }
                })
        }
        let address = "http://\(config.host):\(port)"
        let metadata: Logger.Metadata = [
            "address": "\(address)", "runtime": "\(config.runtime.rawValue)",
            "data.dir": "\(config.dataDir)", "stop.grace.seconds": "\(config.stopGraceSeconds)",
            "max.connections": "\(httpConfiguration.maxConnections)", "open.files.limit": "\(descriptorLimit)",
        ]
        services.append(
            HTTPServerService(server: http, drainTimeout: .seconds(5)) {
                logger.info("trainyard listening", metadata: metadata)
                // A line tests and scripts can wait for; printed once SIGTERM is handled (a signal
                // sent as soon as it appears must stop the server, not be lost).
                FileHandle.standardOutput.write(Data("trainyard listening on \(address)\n".utf8))
            })
        return Server(services: services, logger: logger)
    }

    /// Raises the soft open-file limit to the hard one (a shared server holds a descriptor per
    /// connection, log stream and database file) and returns the limit now in force.
    private static func raiseDescriptorLimit(logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 {
                limit = raised
            } else {
                logger.warning("could not raise the open-file limit", metadata: ["limit": "\(limit.rlim_cur)"])
            }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Serves until SIGTERM or SIGINT, then stops the HTTP server (accepting nothing more, draining
    /// requests in flight for up to 5 s), then the scheduler and the chores, and returns, leaving
    /// training containers running for the next start to adopt.
    func run() async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

/// Whether the job named by the labels of a leftover resource of this data dir (network, service,
/// volume) is over, for the cleanup at startup: true when it has ended or the store does not know
/// it, false while it may still run or when the store cannot say (the resource stays); nil when
/// the labels name no job.
func leftoverJobIsOver(labels: [String: String], store: JobStore) -> Bool? {
    guard let id = labels[TrainingContainer.jobIDLabel].flatMap({ Int64($0) }) else { return nil }
    do {
        return try store.job(id: id)?.status.isTerminal ?? true
    } catch {
        return false
    }
}

/// A server that died between removing a job's last container and the job's network left the
/// network behind, and nothing else would remove it: at startup, this data dir's job networks
/// (labelled with its instance id) whose job is over or unknown go. The engine keeps any that
/// still has a container on it. A job that is running (or being launched) is not over, so its
/// network stays.
private func removeLeftoverJobNetworks(_ docker: DockerRuntime, instanceID: String, store: JobStore, logger: Logger) async {
    guard !instanceID.isEmpty else { return }
    do {
        // A network that names no job is a leftover too.
        let removed = try await docker.removeJobNetworks(labels: [TrainingContainer.instanceLabel: instanceID]) { labels in
            leftoverJobIsOver(labels: labels, store: store) ?? true
        }
        for network in removed { logger.info("removed a leftover job network", metadata: ["network": "\(network)"]) }
    } catch {
        logger.warning("cannot look for leftover job networks", metadata: ["error": "\(error)"])
    }
}

/// As `removeLeftoverJobNetworks`, for a swarm: services and overlay networks of this data dir's
/// jobs that are over (a server killed between a job's end and their removal).
private func removeLeftoverSwarmServices(_ swarm: SwarmRuntime, instanceID: String, store: JobStore, logger: Logger) async {
    guard !instanceID.isEmpty else { return }
    do {
        let removed = try await swarm.removeLeftovers(instance: instanceID) { labels in
            leftoverJobIsOver(labels: labels, store: store) ?? true
        }
        for name in removed { logger.info("removed a leftover swarm service or network", metadata: ["name": "\(name)"]) }
    } catch {
        logger.warning("cannot look for leftover swarm services", metadata: ["error": "\(error)"])
    }
}
