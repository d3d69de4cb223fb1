import Metrics
import Synchronization

/// Request counts and latencies for /metrics, through swift-metrics (the executable chooses the
/// backend: Prometheus).
enum APIMetrics {
    private struct Key: Hashable {
        let operation: String
        let outcome: String
    }

    /// One counter and timer per (operation, outcome), made once: asking the factory for them on
    /// every request (a registry lookup under its lock) cost ~3% of a DescribeTrainingJob.
    private static let instruments = Mutex<[Key: (Counter, Timer)]>([:])

    static func record(operation: String, outcome: String, duration: Duration) {
        let key = Key(operation: operation, outcome: outcome)
        let (counter, timer) = instruments.withLock { instruments in
            if let existing = instruments[key] { return existing }
            let dimensions = [("operation", operation), ("outcome", outcome)]
            let made = (
                Counter(label: "trainyard_api_requests_total", dimensions: dimensions),
                Timer(label: "trainyard_api_request_duration_seconds", dimensions: dimensions)
            )
            instruments[key] = made
            return made
        }
        counter.increment()
        timer.recordInterval(duration)
    }
}

extension Timer {
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
