-- Migration 0003's trigram index, filled in batches (JobStore.indexNewJobNames) instead of by an
-- insert trigger: FTS5 writes a new segment for every transaction that touches it, which made each
-- CreateTrainingJob ~70 µs (20%) dearer. Jobs with id <= indexed_up_to are in the index;
-- ListTrainingJobs reads the few newer ones directly. Ids only grow (AUTOINCREMENT) and every write
-- goes through one connection, so "id <= indexed_up_to" is exactly the indexed set.
-- The index is made anew (columnsize = 0: no per-row size table, which nothing here reads) and
-- filled by the server from id 0.

DROP TRIGGER training_job_names_after_insert;
DROP TRIGGER training_job_names_after_delete;
DROP TRIGGER training_job_names_after_update;
DROP TABLE training_job_names;

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
