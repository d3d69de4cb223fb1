/// What the scheduler has observed of a job's container.
public enum ContainerObservation: Sendable, Equatable {
    /// Not looked at yet since this process started.
    case unknown
    /// There is no container for the job.
    case absent
    /// Created but never started.
    case created
    case running
    case exited(ContainerOutcome)
}

/// The next thing the scheduler must do for a job: a pure decision from stored state, what was
/// observed of the container, and the time (DESIGN §7.1). Deadlines are derived from stored
/// timestamps, so a restarted server decides exactly as the old one would have (Kubernetes'
/// `pastActiveDeadline` shape).
public enum LifecycleStep: Sendable, Equatable {
    /// Starting: check the image, lay out the workspace → Downloading (or Pending when no slot is free).
    case prepare
    /// Downloading: stage channel data, create and start the container → Training.
    case launch
    /// Look at the container (after a restart, or when nothing is known yet).
    case observe
    /// Nothing to do until the container changes or `until` passes.
    case wait(until: Timestamp?)
    /// MaxRuntimeInSeconds has passed → Stopping (MaxRuntimeExceeded).
    case exceedMaxRuntime
    /// The container exited while Training; record the exit → Uploading or (non-zero) collect and fail.
    case recordExit(ContainerOutcome)
    /// Collect outputs and end the job (Completed, Failed, Stopped or MaxRuntimeExceeded).
    case finish
    /// Stopping: SIGTERM to the container's PID 1.
    case sendSIGTERM
    /// Stopping: the grace window is over and the container still runs.
    case sendSIGKILL
    /// The container of a Training job disappeared.
    case containerLost
}

extension TrainingJob {
    /// - Parameters:
    ///   - observed: the container as last seen.
    ///   - now: the current time.
    ///   - stopGraceMilliseconds: SIGTERM → SIGKILL window (SageMaker: 120 s).
    public func nextStep(observed: ContainerObservation, now: Timestamp, stopGraceMilliseconds: Int64) -> LifecycleStep {
        guard status.isActive else { return .wait(until: nil) }
        switch secondaryStatus {
        case .starting, .pending:
            return .prepare
        case .downloading:
            return .launch
        case .training:
            // A non-zero exit is recorded while still Training; its outputs are collected next.
            if exit != nil { return .finish }
            switch observed {
            case .unknown: return .observe
            case .exited(let outcome): return .recordExit(outcome)
            case .absent, .created: return .containerLost
            case .running:
                guard let deadline = maxRuntimeDeadline else { return .wait(until: nil) }
                return now >= deadline ? .exceedMaxRuntime : .wait(until: deadline)
            }
        case .uploading:
            return .finish
        case .stopping:
            switch observed {
            case .unknown: return .observe
            case .exited(let outcome) where exit == nil: return .recordExit(outcome)
            case .absent, .created, .exited: return .finish
            case .running:
                guard let sigterm = sigtermSentTime else { return .sendSIGTERM }
                let killAt = sigterm.adding(milliseconds: stopGraceMilliseconds)
                if now < killAt { return .wait(until: killAt) }
                return sigkillSentTime == nil ? .sendSIGKILL : .wait(until: nil)
            }
        default:
            return .wait(until: nil)
        }
    }
}
