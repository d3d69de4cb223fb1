/// What was last seen of each host's container of one job.
public struct ClusterObservation: Sendable, Equatable {
    /// By host name; a host missing here has not been looked at since this process started.
    public var hosts: [String: ContainerObservation]
    /// When this process saw each exited host end (its wait returned), to tell which host failed
    /// first; unknown for exits found by looking after a restart.
    public var finishedAt: [String: Timestamp]

    public init(hosts: [String: ContainerObservation] = [:], finishedAt: [String: Timestamp] = [:]) {
        self.hosts = hosts
        self.finishedAt = finishedAt
    }

    /// Every host in the same state (launch: all running).
    public static func all(_ hosts: [String], _ observation: ContainerObservation) -> ClusterObservation {
        ClusterObservation(hosts: Dictionary(uniqueKeysWithValues: hosts.map { ($0, observation) }))
    }

    public mutating func record(_ host: String, _ observation: ContainerObservation, finishedAt time: Timestamp? = nil) {
        hosts[host] = observation
        if let time { finishedAt[host] = time }
    }

    public func observation(of host: String) -> ContainerObservation { hosts[host] ?? .unknown }

    /// Hosts whose container still runs.
    public func running(among names: [String]) -> [String] {
        names.filter { observation(of: $0) == .running }
    }

    /// The host whose failure the job reports: of the hosts that exited non-zero, the one that
    /// ended first (then the lowest `algo-N`). The others were most likely brought down by it (a
    /// peer's lost connection) or by the stop that followed.
    public func firstFailure(among names: [String]) -> (host: String, outcome: ContainerOutcome)? {
        var failed: [(host: String, outcome: ContainerOutcome, at: Timestamp?, order: Int)] = []
        for (order, name) in names.enumerated() {
            if case .exited(let outcome) = observation(of: name), outcome.exitCode != 0 {
                failed.append((name, outcome, finishedAt[name], order))
            }
        }
        let first = failed.min { lhs, rhs in
            switch (lhs.at, rhs.at) {
            case let (l?, r?) where l != r: return l < r
            case (_?, nil): return true
            case (nil, _?): return false
            default: return lhs.order < rhs.order
            }
        }
        return first.map { ($0.host, $0.outcome) }
    }
}

extension TrainingJob {
    /// The next step of a job that runs on several hosts (issue 13; DESIGN §3), from what was seen
    /// of each host's container. The job trains while any host trains; it moves on when every host
    /// has exited 0; when a host fails, the job records that failure and stops the other hosts with
    /// the same SIGTERM → grace → SIGKILL as StopTrainingJob before it ends Failed. (SageMaker
    /// documents success as exit 0 and failure as non-zero per algorithm process, DG-sig, but not
    /// the multi-host policy; this is issue 13's rule, and the SDK's local mode also brings every
    /// container down once one exits: `docker compose up --abort-on-container-exit`, SDK2 image.py.)
    /// One host behaves exactly as `nextStep(observed:)`.
    public func nextStep(cluster: ClusterObservation, now: Timestamp, stopGraceMilliseconds: Int64) -> LifecycleStep {
        let names = spec.cluster.hostNames
        guard names.count > 1 else {
            return nextStep(
                observed: cluster.observation(of: names.first ?? "algo-1"), now: now, stopGraceMilliseconds: stopGraceMilliseconds)
        }
        guard status.isActive else { return .wait(until: nil) }
        let observed = names.map(cluster.observation(of:))
        let unknown = observed.contains(.unknown)
        let running = cluster.running(among: names)
        switch secondaryStatus {
        case .starting, .pending:
            return .prepare
        case .downloading:
            return .launch
        case .training:
            if unknown { return .observe }
            if exit != nil {
                // A host failed: the others are stopped before the outputs are collected.
                if running.isEmpty { return .finish }
                return stopStep(now: now, stopGraceMilliseconds: stopGraceMilliseconds)
            }
            if let failure = cluster.firstFailure(among: names) { return .recordExit(failure.outcome) }
            if observed.contains(where: { $0 == .absent || $0 == .created }) { return .containerLost }
            if running.isEmpty { return .recordExit(ContainerOutcome(exitCode: 0)) }
            guard let deadline = maxRuntimeDeadline else { return .wait(until: nil) }
            return now >= deadline ? .exceedMaxRuntime : .wait(until: deadline)
        case .uploading:
            return .finish
        case .stopping:
            if unknown { return .observe }
            if !running.isEmpty { return stopStep(now: now, stopGraceMilliseconds: stopGraceMilliseconds) }
            if exit == nil, observed.contains(where: { if case .exited = $0 { true } else { false } }) {
                return .recordExit(cluster.firstFailure(among: names)?.outcome ?? ContainerOutcome(exitCode: 0))
            }
            return .finish
        default:
            return .wait(until: nil)
        }
    }

    /// SIGTERM to the running hosts, SIGKILL once the grace window has passed since it went out.
    private func stopStep(now: Timestamp, stopGraceMilliseconds: Int64) -> LifecycleStep {
        guard let sigterm = sigtermSentTime else { return .sendSIGTERM }
        let killAt = sigterm.adding(milliseconds: stopGraceMilliseconds)
        if now < killAt { return .wait(until: killAt) }
        return sigkillSentTime == nil ? .sendSIGKILL : .wait(until: nil)
    }
}
