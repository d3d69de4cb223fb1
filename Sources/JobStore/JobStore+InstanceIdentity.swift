import SQLite

extension JobStore {
    /// This database's instance id (migration 0006): 16 hex digits, the same for the life of the
    /// database, in the names and labels of its training containers (issue 12 item 8).
    public func instanceID() throws(JobStoreError) -> String {
        try withDatabase { db throws(JobStoreError) in
            try db.scalarString("SELECT instance_id FROM instance_identity WHERE singleton = 1") ?? ""
        }
    }
}
