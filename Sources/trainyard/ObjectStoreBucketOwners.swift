import ObjectStore
import Scheduler

/// The S3 API's bucket ownership (ObjectStore, issue 11) for what the scheduler reads and writes
/// on a job's behalf (issue 12 item 3): the same account boundary as an S3 request.
struct ObjectStoreBucketOwners: BucketOwners {
    let store: ObjectStore

    func owner(of bucket: String) throws -> String? {
        try store.owner(of: bucket)
    }

    func claimForWrite(_ bucket: String, account: String) throws -> String? {
        do {
            try store.claimBucketForWrite(bucket, account: account)
            return account
        } catch where error.code == "AccessDenied" {
            return try store.owner(of: bucket)
        } catch where error.code == "InvalidBucketName" {
            return nil
        }
    }
}
