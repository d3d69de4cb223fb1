import Foundation
@testable import JobStore
import SQLite
import Synchronization
import Testing
import TrainingCore

private let account = "123456789012"

private func temporaryStore() throws -> (JobStore, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("jobs.sqlite")
    return (try JobStore(path: path.path), path)
}

private func job(_ name: String, at seconds: Double = 1_700_000_000, account: String = account) -> TrainingJob {
    TrainingJob.created(
        account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
        spec: TrainingJobSpec(trainingImage: "img", hyperParameters: ["lr": "0.1"], outputPath: "s3://b/o"),
        requestEcho: #"{"RoleArn":"arn:aws:iam::123456789012:role/x"}"#, now: Timestamp(epochSeconds: seconds))
}

struct JobStoreTests {
    @Test("a created job reads back equal, with its transitions and tags")
    func createAndRead() throws {
        let (store, _) = try temporaryStore()
        let created = try store.create(job("a"), tags: [("team", "ml"), ("env", "dev")])
        #expect(created.id > 0 && created.version == 1)
        let read = try #require(try store.job(account: account, name: "a"))
        #expect(read == created)
        #expect(read.spec.hyperParameters == ["lr": "0.1"])
        let tags = try #require(try store.tags(account: account, name: "a"))
        #expect(tags.map(\.key) == ["team", "env"])
        #expect(try store.job(account: "999999999999", name: "a") == nil)
    }

    @Test("a duplicate name is refused whatever the old job's status, and nothing changes")
    func duplicateName() throws {
        let (store, _) = try temporaryStore()
        let first = try store.create(job("dup"))
        #expect(throws: JobStoreError.nameInUse(arn: first.arn)) { try store.create(job("dup", at: 1_700_000_100)) }
        #expect(try store.job(account: account, name: "dup") == first)
        // Another account may use the same name.
        _ = try store.create(job("dup", account: "210987654321"))
    }

    @Test("replace is a compare-and-set on the version and writes the transition rows")
    func compareAndSet() throws {
        let (store, _) = try temporaryStore()
        let created = try store.create(job("cas"))
        let downloading = try created.startingDownload(now: Timestamp(epochSeconds: 1_700_000_001))
        let stored = try #require(try store.replace(downloading))
        #expect(stored.version == 2)
        // A writer holding the old version loses.
        #expect(try store.replace(try created.stopRequested(now: Timestamp(epochSeconds: 1_700_000_002))) == nil)
        let read = try #require(try store.job(id: created.id))
        #expect(read.secondaryStatus == .downloading)
        #expect(read.transitions.count == 2)
        #expect(read.transitions[0].endTime == read.transitions[1].startTime)
        // In-place message updates reach the stored row.
        let renamed = read.withStatusMessage("changed", now: Timestamp(epochSeconds: 1_700_000_003))
        _ = try #require(try store.replace(renamed))
        #expect(try store.job(id: created.id)?.transitions.last?.message == "changed")
    }

    @Test("a change writes only the columns it changed: the job reads back whole, and the indexes find it by its new status")
    func changedColumnsOnly() throws {
        let (store, _) = try temporaryStore()
        let created = try store.create(job("columns"))
        _ = try store.create(job("other", at: 1_700_000_001))
        let changedAt = Timestamp(epochSeconds: 1_700_000_010)
        let downloading = try #require(try store.update(id: created.id) { job throws(LifecycleError) in try job.startingDownload(now: changedAt) })
        // Only a transition's message, at the same instant: no column of the row changes, but
        // the version still moves on and the message is stored.
        let renamed = try #require(try store.update(id: created.id) { $0.withStatusMessage("renamed", now: changedAt) })
        #expect(renamed.version == downloading.version + 1)
        let stopping = try #require(
            try store.update(batch: [(id: created.id, change: { job throws(LifecycleError) in try job.stopRequested(now: Timestamp(epochSeconds: 1_700_000_020)) })])
                .first?.get())
        #expect(try store.job(id: created.id) == stopping)
        #expect(stopping.transitions.last?.message != "renamed")
        #expect(stopping.transitions.contains { $0.message == "renamed" })
        #expect(stopping.creationTime == created.creationTime)
        #expect(try store.list(JobQuery(account: account, statusEquals: .stopping, limit: 10)).jobs.map(\.name) == ["columns"])
        #expect(try store.list(JobQuery(account: account, statusEquals: .inProgress, limit: 10)).jobs.map(\.name) == ["other"])
        let changedLately = JobQuery(account: account, lastModifiedTimeAfter: Timestamp(epochSeconds: 1_700_000_015), limit: 10)
        #expect(try store.list(changedLately).jobs.map(\.name) == ["columns"])
        let createdFirst = JobQuery(account: account, creationTimeBefore: Timestamp(epochSeconds: 1_700_000_001), limit: 10)
        #expect(try store.list(createdFirst).jobs.map(\.name) == ["columns"])
        #expect(try store.integrityCheck() == "ok")
    }

    @Test("cached transitions serve only the version they were stored with: a change another connection made is read")
    func transitionsCacheFollowsTheVersion() throws {
        let (store, path) = try temporaryStore()
        let created = try store.create(job("cached"))
        let downloading = try #require(
            try store.update(id: created.id) { job throws(LifecycleError) in try job.startingDownload(now: Timestamp(epochSeconds: 1_700_000_001)) })
        #expect(try store.job(id: created.id)?.transitions == downloading.transitions)
        // Another writer, on a connection of its own: a transition's message, and the next version.
        let other = try Database(path: path.path)
        try other.run("UPDATE training_job_transitions SET message = 'from elsewhere' WHERE job_id = ? AND seq = 1", [created.id])
        try other.run("UPDATE training_jobs SET version = version + 1 WHERE id = ?", [created.id])
        other.close()
        let read = try #require(try store.job(id: created.id))
        #expect(read.version == downloading.version + 1)
        #expect(read.transitions.map(\.message) == [downloading.transitions[0].message, "from elsewhere"])
        #expect(try store.jobs(ids: [created.id]).first?.transitions == read.transitions)
    }

    @Test("a job cached as committed serves its own version only: reads and batch updates see another writer's change")
    func committedJobsFollowTheVersion() throws {
        let (store, path) = try temporaryStore()
        let versions = Mutex<[Int64: Int64]>([:])
        store.observeChanges { change in versions.withLock { $0[change.jobID] = change.version } }
        let created = try store.create(job("known"))
        #expect(versions.withLock { $0[created.id] } == 1)
        // Another writer changes a column behind the store's back; the version moves on with it.
        let other = try Database(path: path.path)
        try other.run("UPDATE training_jobs SET failure_reason = 'from elsewhere' WHERE id = ?", [created.id])
        other.close()
        // Given version 1, the job as committed at version 1 is served, without a read.
        #expect(try store.jobs(ids: [created.id], knownVersions: [created.id: 1]).first?.failureReason == nil)
        try Database(path: path.path).run("UPDATE training_jobs SET version = 2 WHERE id = ?", [created.id])
        // A version the cache does not hold is read.
        #expect(try store.jobs(ids: [created.id], knownVersions: [created.id: 2]).first?.failureReason == "from elsewhere")
        // A batch update starts from the stored row, not from the cached version 1.
        let results = try store.update(batch: [(id: created.id, change: { job throws(LifecycleError) in
            try job.startingDownload(now: Timestamp(epochSeconds: 1_700_000_001))
        })])
        let updated = try #require(try results[0].get())
        #expect(updated.version == 3 && updated.failureReason == "from elsewhere")
        #expect(versions.withLock { $0[created.id] } == 3)
        // Now version 3 is cached, and served as stored.
        #expect(try store.jobs(ids: [created.id], knownVersions: [created.id: 3]) == [updated])
        #expect(try store.job(id: created.id) == updated)
    }

    @Test("update retries on a fresh job and a throwing change stores nothing")
    func update() throws {
        let (store, _) = try temporaryStore()
        let created = try store.create(job("upd"))
        let stopped = try store.update(id: created.id) { job throws(LifecycleError) in try job.stopRequested(now: Timestamp(epochSeconds: 1_700_000_005)) }
        #expect(stopped?.status == .stopping)
        #expect(throws: JobStoreError.rejected(.notInProgress(.stopping))) {
            try store.update(id: created.id) { job throws(LifecycleError) in try job.stopRequested(now: Timestamp(epochSeconds: 1_700_000_006)) }
        }
        #expect(try store.job(id: created.id)?.version == 2)
    }

    @Test("list filters before paging, sorts every way, and pages without repeats or gaps")
    func listing() throws {
        let (store, _) = try temporaryStore()
        // Several jobs share a creation time: the name breaks the tie.
        for index in 0..<25 {
            let created = try store.create(job(String(format: "job-%02d", index), at: 1_700_000_000 + Double(index / 3)))
            if index % 5 == 0 { _ = try store.replace(try created.stopRequested(now: created.creationTime)) }
        }
        _ = try store.create(job("other-team", at: 1_700_000_000, account: "210987654321"))
        for sort in [JobQuery.SortKey.name, .creationTime, .status] {
            for ascending in [true, false] {
                var seen: [String] = []
                var query = JobQuery(account: account, sortBy: sort, ascending: ascending, limit: 4)
                while true {
                    let page = try store.list(query)
                    seen += page.jobs.map(\.name)
                    guard page.hasMore, let last = page.jobs.last else { break }
                    query.after = last.cursor
                }
                #expect(seen.count == 25)
                #expect(Set(seen).count == 25)
            }
        }
        let stopping = try store.list(JobQuery(account: account, statusEquals: .stopping, limit: 100))
        #expect(stopping.jobs.map(\.name) == ["job-00", "job-05", "job-10", "job-15", "job-20"])
        let contains = try store.list(JobQuery(account: account, nameContains: "JOB-1", limit: 100))
        #expect(contains.jobs.count == 10)
        let after = try store.list(JobQuery(account: account, creationTimeAfter: Timestamp(epochSeconds: 1_700_000_006), limit: 100))
        #expect(after.jobs.map(\.name) == ["job-21", "job-22", "job-23", "job-24"])
        let byName = try store.list(JobQuery(account: account, sortBy: .name, ascending: false, limit: 2))
        #expect(byName.jobs.map(\.name) == ["job-24", "job-23"] && byName.hasMore)
        // Wildcards in NameContains are literal.
        #expect(try store.list(JobQuery(account: account, nameContains: "%", limit: 100)).jobs.isEmpty)
    }

    @Test("NameContains gives the same jobs through the trigram index (rare fragments) as through the scan")
    func nameContainsThroughTheTrigramIndex() throws {
        let (store, path) = try temporaryStore()
        // More "common" jobs than JobStore.rareFragmentMatches: that fragment takes the scan.
        for index in 0..<(JobStore.rareFragmentMatches + 20) {
            _ = try store.create(job(String(format: "common-%04d", index), at: 1_700_000_000 + Double(index)))
        }
        var rare: [String] = []
        func createRare(_ index: Int) throws {
            let name = "common-rare-zq-\(index)"
            _ = try store.create(job(name, at: 1_600_000_000 + Double(7 - index)))  // created in reverse name order
            rare.append(name)
        }
        func createAndDelete(_ name: String) throws {
            let doomed = try store.create(job(name, at: 1_600_000_000))
            let stopping = try #require(try store.replace(try doomed.stopRequested(now: doomed.creationTime)))
            _ = try store.replace(try stopping.finished(failureText: nil, metrics: [], now: doomed.creationTime))
            try store.delete(account: account, name: name)
        }
        // Some jobs are in the trigram index, the newest are not yet: answers must not depend on it.
        for index in 0..<4 { try createRare(index) }
        _ = try store.create(job("rare-zq-elsewhere", at: 1_600_000_000, account: "210987654321"))
        let indexedJob = try store.create(job("common-rare-zq-indexed-then-deleted", at: 1_600_000_000))
        #expect(try store.indexNewJobNames() == JobStore.rareFragmentMatches + 20 + 6)
        #expect(try store.indexNewJobNames() == 0)  // nothing new
        let stopping = try #require(try store.replace(try indexedJob.stopRequested(now: indexedJob.creationTime)))
        _ = try store.replace(try stopping.finished(failureText: nil, metrics: [], now: indexedJob.creationTime))
        try store.delete(account: account, name: "common-rare-zq-indexed-then-deleted")
        for index in 4..<7 { try createRare(index) }
        try createAndDelete("common-rare-zq-deleted-unindexed")

        func all(_ fragment: String, sortBy: JobQuery.SortKey = .creationTime) throws -> [String] {
            var query = JobQuery(account: account, nameContains: fragment, sortBy: sortBy, limit: 2)
            var names: [String] = []
            while true {
                let page = try store.list(query)
                names += page.jobs.map(\.name)
                guard page.hasMore, let last = page.jobs.last else { return names }
                query.after = last.cursor
            }
        }
        #expect(try all("rare-zq") == rare.reversed())  // oldest first
        #expect(try all("RARE-ZQ", sortBy: .name) == rare)  // case-insensitive, like LIKE
        #expect(try all("zq") == rare.reversed())  // two characters: the scan, same answer
        #expect(try all("zq-3") == ["common-rare-zq-3"])
        #expect(try all("nothing-like-it").isEmpty)
        #expect(try all("zq\"%_").isEmpty)  // quotes and LIKE wildcards are literal
        let common = try store.list(JobQuery(account: account, nameContains: "common", limit: 100))
        #expect(common.jobs.count == 100 && common.hasMore)
        #expect(common.jobs.first?.name == "common-rare-zq-6")
        // Indexing the rest changes no answer, and deletions left the index consistent.
        #expect(try store.indexNewJobNames() == 3)
        #expect(try all("rare-zq") == rare.reversed())
        #expect(try all("zq-5") == ["common-rare-zq-5"])
        let check = try Database(path: path.path)
        try check.execute("INSERT INTO training_job_names (training_job_names) VALUES ('integrity-check')")
    }

    @Test("job names are indexed in batches until none is left, across gaps left by deleted jobs")
    func nameIndexingInBatches() throws {
        let (store, _) = try temporaryStore()
        for index in 0..<10 {
            let created = try store.create(job("batch-job-\(index)", at: 1_700_000_000 + Double(index)))
            if index % 3 == 0 {  // gaps in the ids
                let stopping = try #require(try store.replace(try created.stopRequested(now: created.creationTime)))
                _ = try store.replace(try stopping.finished(failureText: nil, metrics: [], now: created.creationTime))
                try store.delete(account: account, name: created.name)
            }
        }
        var batches: [Int] = []
        while true {
            let indexed = try store.indexNewJobNames(batch: 2)
            if indexed == 0 { break }
            batches.append(indexed)
            #expect(batches.count <= 10)
        }
        #expect(batches == [2, 2, 2])  // 6 jobs left, two at a time
        let listed = try store.list(JobQuery(account: account, nameContains: "batch-job", limit: 100)).jobs.map(\.name)
        #expect(listed == ["batch-job-1", "batch-job-2", "batch-job-4", "batch-job-5", "batch-job-7", "batch-job-8"])
    }

    @Test("delete removes only terminal jobs, frees the name, and drops tags and transitions")
    func deletion() throws {
        let (store, _) = try temporaryStore()
        let created = try store.create(job("del"), tags: [("k", "v")])
        #expect(throws: JobStoreError.notTerminal(.inProgress)) { try store.delete(account: account, name: "del") }
        let stopping = try #require(try store.replace(try created.stopRequested(now: created.creationTime)))
        _ = try store.replace(try stopping.finished(failureText: nil, metrics: [], now: created.creationTime))
        try store.delete(account: account, name: "del")
        #expect(try store.job(account: account, name: "del") == nil)
        #expect(throws: JobStoreError.notFound) { try store.delete(account: account, name: "del") }
        let again = try store.create(job("del"))
        #expect(again.id != created.id)
        #expect(try store.tags(account: account, name: "del")?.isEmpty == true)
    }

    @Test("AddTags overwrites existing keys in place and refuses to pass the limit without changing anything")
    func tags() throws {
        let (store, _) = try temporaryStore()
        _ = try store.create(job("t"), tags: [("a", "1"), ("b", "2")])
        try store.addTags(account: account, name: "t", tags: [("a", "9"), ("c", "3")])
        #expect(try store.tags(account: account, name: "t")?.map { "\($0.key)=\($0.value)" } == ["a=9", "b=2", "c=3"])
        #expect(throws: JobStoreError.tooManyTags(limit: 4)) {
            try store.addTags(account: account, name: "t", tags: [("d", "4"), ("e", "5")], limit: 4)
        }
        #expect(try store.tags(account: account, name: "t")?.count == 3)
        try store.deleteTags(account: account, name: "t", keys: ["b", "zz"])
        #expect(try store.tags(account: account, name: "t")?.map(\.key) == ["a", "c"])
        #expect(throws: JobStoreError.notFound) { try store.addTags(account: account, name: "nope", tags: [("a", "b")]) }
    }

    @Test("jobs survive reopening the database, and a newer schema is refused")
    func reopen() throws {
        let (store, path) = try temporaryStore()
        let created = try store.create(job("durable"))
        let reopened = try JobStore(path: path.path)
        #expect(try reopened.job(account: account, name: "durable") == created)
        #expect(try reopened.integrityCheck() == "ok")
        let newest = JobStore.migrations.map(\.version).max() ?? 0
        let db = try Database(path: path.path)
        try db.execute("PRAGMA user_version = \(newest + 5)")
        db.close()
        #expect {
            _ = try JobStore(path: path.path)
        } throws: { error in
            guard case JobStoreError.schemaTooNew(let message) = error else { return false }
            return message.contains("newer")
        }
    }

    @Test("a SQLite failure inside a store transaction is JobStoreError.database with SQLite's words, and undoes the transaction")
    func sqliteFailureInTransaction() throws {
        let (store, path) = try temporaryStore()
        _ = try store.create(job("tagged"))
        let db = try Database(path: path.path)
        try db.execute(
            """
            CREATE TRIGGER refuse_forbidden_tag BEFORE INSERT ON training_job_tags WHEN NEW.key = 'forbidden'
            BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
            """)
        #expect {
            try store.addTags(account: account, name: "tagged", tags: [("kept", "1"), ("forbidden", "2")])
        } throws: { error in
            guard case JobStoreError.database(let message) = error else { return false }
            return message.contains("refused by the test")
        }
        #expect(try store.tags(account: account, name: "tagged")?.isEmpty == true)
        try store.addTags(account: account, name: "tagged", tags: [("kept", "1")])
        #expect(try store.tags(account: account, name: "tagged")?.map(\.key) == ["kept"])
    }

    @Test("active jobs are the InProgress and Stopping ones")
    func active() throws {
        let (store, _) = try temporaryStore()
        let a = try store.create(job("a"))
        let b = try store.create(job("b"))
        let stopping = try #require(try store.replace(try b.stopRequested(now: b.creationTime)))
        _ = try store.replace(try stopping.finished(failureText: nil, metrics: [], now: b.creationTime))
        let c = try store.create(job("c"))
        // A Stopping job is active too.
        let d = try store.create(job("d"))
        _ = try store.replace(try d.stopRequested(now: d.creationTime))
        #expect(try store.activeJobIDs() == [a.id, c.id, d.id])
    }
}
