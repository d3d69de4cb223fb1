public import Foundation
internal import Glibc
internal import JobStore
public import SQLite
internal import Synchronization
internal import Crypto

/// The embedded object store behind the S3 API (DESIGN §2): bytes in `<root>/<bucket>/<key>`, so a
/// person (and the scheduler, which stages channels from and writes artifacts into the folder) sees
/// plain files; ownership and object metadata in SQLite (Migrations/0005_object_store.sql).
///
/// Every path is opened below the root without following links (RootedDirectory). Temporary files
/// and multipart parts live in `<root>/.trainyard/`, which no bucket name can reach (bucket names
/// start with a letter or digit).
///
/// Sendable: the database connection is behind a mutex; file operations are plain system calls on
/// descriptors this object never changes.
public final class ObjectStore: Sendable {
    let root: RootedDirectory
    let database: Mutex<Database>
    /// Owner of bucket folders that have no row yet (made by hand, or by a job before the API ran).
    public let defaultAccount: String
    let temporaryFD: Int32
    let uploadsFD: Int32
    let now: @Sendable () -> Date
    let directoryCache = DirectoryCache()
    /// Bucket owners already read, by bucket name: every job's artifacts ask for their bucket's
    /// owner, and a query for it was a SQLite read (and its file locks) per job. A row changes
    /// only when DeleteBucket removes it (an owner, once claimed, never changes), which drops it
    /// here too.
    let knownOwners = Mutex<[String: String]>([:])
    /// Bounds `knownOwners` (it starts over past this).
    static let knownOwnersLimit = 10_000

    /// - Parameters:
    ///   - root: the object store folder (`--s3-root`), created if missing.
    ///   - databasePath: the server's SQLite file; the embedded migrations are applied to it.
    ///   - defaultAccount: owner of folders found without an owner (`--account-id`).
    public init(
        root path: String, databasePath: String, defaultAccount: String, now: @escaping @Sendable () -> Date = { Date() }
    ) throws(S3Error) {
        self.root = try RootedDirectory(path: path)
        self.defaultAccount = defaultAccount
        self.now = now
        do {
            let db = try Database(path: databasePath)
            try Migrator(migrations: JobStore.migrations).migrate(db)
            self.database = Mutex(db)
        } catch {
            throw .internalError("cannot open the object store database \(databasePath): \(error)")
        }
        guard case .success(let temporary) = root.openDirectory([".trainyard", "tmp"], create: true),
            case .success(let uploads) = root.openDirectory([".trainyard", "uploads"], create: true)
        else {
            throw .internalError("cannot create \(path)/.trainyard: \(systemErrorText(errno))")
        }
        self.temporaryFD = temporary
        self.uploadsFD = uploads
        // Temporary files of a previous run are orphans: nothing can commit them any more.
        for entry in RootedDirectory.entries(temporary) where !entry.isDirectory {
            unlinkat(temporary, entry.name, 0)
        }
    }

    deinit {
        close(temporaryFD)
        close(uploadsFD)
    }

    public var rootPath: String { root.path }

    /// Runs `body` with the connection held; a SQLite failure is an InternalError (S3Error's `init(sqlite:)`).
    func withDatabase<T: Sendable>(_ body: (TypedDatabase<S3Error>) throws(S3Error) -> T) throws(S3Error) -> T {
        try database.withLock { db throws(S3Error) in try body(TypedDatabase(db)) }
    }

    var nowMilliseconds: Int64 { Int64((now().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: - Spooling bodies

    /// A new temporary file to stream a body into.
    public func makeSpool(hashSHA256: Bool, checksums: [ChecksumAlgorithm] = []) throws(S3Error) -> BodySpool {
        let name = "put-" + Self.randomToken(bytes: 12)
        let fd = openat(temporaryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw .internalError("Could not create a temporary file in \(root.path)/.trainyard/tmp: \(systemErrorText(errno)).")
        }
        return BodySpool(directory: temporaryFD, name: name, fd: fd, hashSHA256: hashSHA256, checksums: checksums)
    }

    /// Spools bytes already in memory.
    public func spool(_ bytes: [UInt8], hashSHA256: Bool = false, checksums: [ChecksumAlgorithm] = []) throws(S3Error) -> SpooledBody {
        let spool = try makeSpool(hashSHA256: hashSHA256, checksums: checksums)
        spool.write(bytes)
        return try spool.finish()
    }

    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }

    // MARK: - Buckets

    public enum CreateBucketOutcome: Sendable, Equatable {
        case created
        /// The caller already owns it (us-east-1 answers 200 again; other regions BucketAlreadyOwnedByYou).
        case alreadyOwned
    }

    /// The bucket's owner, or nil when there is no such bucket. A folder without a row is claimed
    /// for `defaultAccount` on first sight.
    public func owner(of bucket: String) throws(S3Error) -> String? {
        guard BucketName.isValid(bucket) else { return nil }
        if let known = knownOwners.withLock({ $0[bucket] }) { return known }
        if let account = try withDatabase({ db throws(S3Error) in
            try db.scalarString("SELECT account_id FROM s3_buckets WHERE name = ?", [bucket])
        }) {
            remember(owner: account, of: bucket)
            return account
        }
        guard let info = RootedDirectory.stat(root.rootFD, bucket), (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return try claim(bucket, for: defaultAccount)
    }

    /// Inserts the ownership row unless one exists; returns the owner afterwards.
    private func claim(_ bucket: String, for account: String) throws(S3Error) -> String {
        let created = nowMilliseconds
        let owner = try withDatabase { db throws(S3Error) in
            try db.write { db throws(S3Error) in
                try db.run(
                    "INSERT INTO s3_buckets (name, account_id, created_at_ms) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    [bucket, account, created])
                return try db.scalarString("SELECT account_id FROM s3_buckets WHERE name = ?", [bucket]) ?? account
            }
        }
        remember(owner: owner, of: bucket)
        return owner
    }

    private func remember(owner: String, of bucket: String) {
        knownOwners.withLock { known in
            if known.count >= Self.knownOwnersLimit { known = [:] }
            known[bucket] = owner
        }
    }

    /// NoSuchBucket or AccessDenied unless `account` owns `bucket`.
    public func requireBucket(_ bucket: String, account: String) throws(S3Error) {
        guard let owner = try owner(of: bucket) else { throw .noSuchBucket(bucket) }
        guard owner == account else { throw .accessDenied() }
    }

    public func createBucket(_ bucket: String, account: String) throws(S3Error) -> CreateBucketOutcome {
        try BucketName.validate(bucket)
        if let owner = try owner(of: bucket) {
            guard owner == account else {
                throw S3Error(
                    code: "BucketAlreadyExists",
                    message: "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                    status: 409, details: [("BucketName", bucket)])
            }
            _ = root.openDirectory([bucket], create: true).map { close($0) }
            return .alreadyOwned
        }
        let owner = try claim(bucket, for: account)
        guard owner == account else { return try createBucket(bucket, account: account) }
        switch root.openDirectory([bucket], create: true) {
        case .success(let fd):
            close(fd)
        case .failure:
            throw .internalError("Could not create the folder of bucket \(bucket).")
        }
        return .created
    }

    /// For the scheduler: a job of `account` writing into `bucket` makes it the owner of a bucket
    /// nobody owns yet (as CreateBucket would); another account's bucket is AccessDenied.
    public func claimBucketForWrite(_ bucket: String, account: String) throws(S3Error) {
        try BucketName.validate(bucket)
        var owner = try owner(of: bucket)
        if owner == nil { owner = try claim(bucket, for: account) }
        guard owner == account else { throw .accessDenied() }
    }

    /// The account's buckets, by name (folders without an owner are claimed first).
    public func listBuckets(account: String) throws(S3Error) -> [BucketInfo] {
        for entry in RootedDirectory.entries(root.rootFD) where entry.isDirectory && BucketName.isValid(entry.name) {
            _ = try owner(of: entry.name)
        }
        return try withDatabase { db throws(S3Error) in
            try db.query("SELECT name, account_id, created_at_ms FROM s3_buckets WHERE account_id = ? ORDER BY name", [account]) {
                BucketInfo(name: $0.string(0), account: $0.string(1), createdMilliseconds: $0.int64(2))
            }
        }
    }

    public func bucketCreationMilliseconds(_ bucket: String) throws(S3Error) -> Int64? {
        try withDatabase { db throws(S3Error) in try db.scalarInt("SELECT created_at_ms FROM s3_buckets WHERE name = ?", [bucket]) }
    }

    /// DeleteBucket: only an empty bucket (no object in its folder); its multipart uploads go with it.
    public func deleteBucket(_ bucket: String, account: String) throws(S3Error) {
        try requireBucket(bucket, account: account)
        if case .success(let fd) = root.openDirectory([bucket], create: false) {
            defer { close(fd) }
            if RootedDirectory.containsFile(fd) {
                throw S3Error(
                    code: "BucketNotEmpty", message: "The bucket you tried to delete is not empty", status: 409,
                    details: [("BucketName", bucket)])
            }
            Self.removeEmptyTree(fd)
        }
        unlinkat(root.rootFD, bucket, AT_REMOVEDIR)
        let uploads = try withDatabase { db throws(S3Error) in
            try db.write { db throws(S3Error) in
                let ids = try db.query("SELECT upload_id FROM s3_multipart_uploads WHERE bucket = ?", [bucket]) { $0.string(0) }
                try db.run("DELETE FROM s3_multipart_uploads WHERE bucket = ?", [bucket])
                try db.run("DELETE FROM s3_objects WHERE bucket = ?", [bucket])
                try db.run("DELETE FROM s3_buckets WHERE name = ?", [bucket])
                return ids
            }
        }
        _ = knownOwners.withLock { $0.removeValue(forKey: bucket) }
        for id in uploads { removeUploadFolder(id) }
    }

    /// Removes every (empty) directory below `directory`.
    static func removeEmptyTree(_ directory: Int32) {
        for entry in RootedDirectory.entries(directory) where entry.isDirectory {
            let child = openat(directory, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 {
                removeEmptyTree(child)
                close(child)
            }
            unlinkat(directory, entry.name, AT_REMOVEDIR)
        }
    }
}

extension S3Error: SQLiteErrorConvertible {
    /// The one place where a SQLite failure of the object store's metadata becomes an S3 error.
    public init(sqlite error: SQLiteError) {
        self = .internalError("object store database: \(error)")
    }
}
