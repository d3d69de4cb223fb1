import ArgumentParser
import ContainerRuntime
import DockerEngine
import Foundation
import JobStore
import Logging
import Scheduler
import TrainingCore
import WorkspaceStaging

extension Server {
    /// `--workspace-staging api`: training containers get volumes filled and emptied through this
    /// server's HTTP API (WorkspaceStaging has the design); `bind` returns `runtime` as it is.
    static func makeStagedRuntime(
        _ runtime: any ContainerRuntime, engine: any StagingEngine, config: ServeConfiguration, dataDir: URL,
        advertised: AdvertisedAddressBox, store: JobStore, logger: Logger, staging: inout WorkspaceStaging?
    ) throws -> any ContainerRuntime {
        guard config.workspaceStaging == .api else { return runtime }
        let spool = dataDir.appendingPathComponent("staging-spool")
        let tokens: StagingTokens
        do {
            try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
            tokens = try StagingTokens.load(dataDir: dataDir)
        } catch {
            throw fail("the data directory \(config.dataDir) is not writable: \(error)")
        }
        let made = WorkspaceStaging(
            tokens: tokens, spoolDirectory: spool, maxOutputBytes: config.stagingMaxOutputBytes,
            advertise: { advertised.get() },
            notice: { labels, text in
                // A line in the log of the job the container belongs to (skipped links, limits).
                guard let id = labels[TrainingContainer.jobIDLabel].flatMap({ Int64($0) }),
                    let job = try? store.job(id: id)
                else { return logger.warning("\(text)") }
                JobLogNotes.append(text, to: job, store: store, logger: logger)
            },
            logger: logger)
        staging = made
        return StagingRuntime(base: runtime, engine: engine, staging: made, logger: logger)
    }
}

/// A server that died between removing a job's container and its staging volumes left them
/// behind: at startup, this data dir's staging volumes whose job is over or unknown go (the engine
/// keeps one a container still uses).
func removeLeftoverStagingVolumes(_ engine: DockerStagingEngine, instanceID: String, store: JobStore, logger: Logger) async {
    guard !instanceID.isEmpty else { return }
    do {
        for volume in try await engine.volumes(labels: [TrainingContainer.instanceLabel: instanceID])
        where volume.labels[StagedContainer.containerLabel] != nil {
            // A volume that names no job stays.
            guard leftoverJobIsOver(labels: volume.labels, store: store) == true else { continue }
            do {
                try await engine.removeVolumes([volume.name])
                logger.info("removed a leftover staging volume", metadata: ["volume": "\(volume.name)"])
            } catch {
                logger.debug("cannot remove a leftover staging volume", metadata: ["volume": "\(volume.name)", "error": "\(error)"])
            }
        }
    } catch {
        logger.warning("cannot look for leftover staging volumes", metadata: ["error": "\(error)"])
    }
}
