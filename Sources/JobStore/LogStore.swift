
/// Container logs: log streams and their events (Migrations/0002_container_logs.sql), written by
/// log capture and read by the CloudWatch Logs API. A store of its own beside JobStore, in the
/// same database file and through the same connections (a job's stream refers to the job's row).
/// Reached as `JobStore.logs`; its operations are in LogStore+Events.swift, its values in
/// LogRecords.swift.
public final class LogStore: Sendable, StoreConnectionsOwner {
    let connections: StoreConnections

    init(connections: StoreConnections) {
        self.connections = connections
    }
}
