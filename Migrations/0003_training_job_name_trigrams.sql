-- A trigram index over job names, for ListTrainingJobs' NameContains: without it a rare fragment
-- meant reading every job of the account (25 ms per request with 100k jobs; README Benchmarks).
-- FTS5's trigram tokenizer answers substring queries from the index, case-folded like LIKE
-- (sqlite.org/fts5.html §4.3.5). External content: the names stay in training_jobs only.
--
-- The index is filled in batches (JobStore.indexNewJobNames), not by an insert trigger: FTS5
-- writes a new segment for every transaction that touches it, which made each CreateTrainingJob
-- ~70 µs (20%) dearer. Jobs with id <= indexed_up_to are in the index; ListTrainingJobs scans the
-- few newer ones directly. Ids only grow (AUTOINCREMENT) and every write goes through one
-- connection, so "id <= indexed_up_to" is exactly the indexed set.

CREATE VIRTUAL TABLE training_job_names USING fts5(
    name, content = 'training_jobs', content_rowid = 'id', tokenize = 'trigram', columnsize = 0
);

CREATE TABLE training_job_names_progress (
    indexed_up_to INTEGER NOT NULL
);
INSERT INTO training_job_names_progress (indexed_up_to) VALUES (0);

-- An indexed job leaves the index with its row (an external-content index must be told the old
-- value). Deleting a job not yet indexed must not touch the index. Names never change.
CREATE TRIGGER training_job_names_after_delete AFTER DELETE ON training_jobs
WHEN old.id <= (SELECT indexed_up_to FROM training_job_names_progress) BEGIN
    INSERT INTO training_job_names (training_job_names, rowid, name) VALUES ('delete', old.id, old.name);
END;
