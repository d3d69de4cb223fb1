import Foundation
public import JobStore
public import Logging
public import TrainingCore

/// Lines the server itself adds to a job's log stream (a skipped link or FIFO, a dropped metric),
/// so the job's owner sees them where SageMaker users look: CloudWatch Logs.
public enum JobLogNotes {
    public static func append(_ text: String, to job: TrainingJob, store: JobStore, logger: Logger) {
        let now = Date()
        do {
            let stream = try store.logs.openLogStream(
                for: job, host: TrainingContainer.host,
                createdAt: job.trainingStartTime ?? Timestamp(epochSeconds: now.timeIntervalSince1970))
            try store.logs.appendLogEvents(streamID: stream.id, [LogEventInput(timestampNanoseconds: LogCapture.nanoseconds(now), message: text)])
        } catch {
            logger.warning("cannot add a line to the job's log", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
        }
        logger.info("\(text)", metadata: ["job.name": "\(job.name)"])
    }
}
