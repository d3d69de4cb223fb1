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
            // The stream is opened if need be, in the same transaction as the line.
            _ = try store.logs.appendLogEvents([
                LogBatch(
                    job: job, host: TrainingContainer.host,
                    createdAt: job.trainingStartTime ?? Timestamp(epochSeconds: now.timeIntervalSince1970), streamID: nil,
                    events: [LogEventInput(timestampNanoseconds: LogCapture.nanoseconds(now), message: text)])
            ])
        } catch {
            logger.warning("cannot add a line to the job's log", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
        }
        logger.info("\(text)", metadata: ["job.name": "\(job.name)"])
    }
}
