-- A trigram index over job names, for ListTrainingJobs' NameContains: without it a rare fragment
-- meant reading every job of the account (25 ms per request with 100k jobs; README Benchmarks).
-- FTS5's trigram tokenizer answers `name LIKE '%fragment%'` (fragments of 3 or more characters)
-- from the index, case-insensitively like LIKE itself (sqlite.org/fts5.html §4.3.5).
-- External content: the names stay in training_jobs only; the triggers keep the index in step.

CREATE VIRTUAL TABLE training_job_names USING fts5(
    name, content = 'training_jobs', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER training_job_names_after_insert AFTER INSERT ON training_jobs BEGIN
    INSERT INTO training_job_names (rowid, name) VALUES (new.id, new.name);
END;

CREATE TRIGGER training_job_names_after_delete AFTER DELETE ON training_jobs BEGIN
    INSERT INTO training_job_names (training_job_names, rowid, name) VALUES ('delete', old.id, old.name);
END;

-- Names never change today; this keeps the index right if that ever changes.
CREATE TRIGGER training_job_names_after_update AFTER UPDATE OF name ON training_jobs BEGIN
    INSERT INTO training_job_names (training_job_names, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO training_job_names (rowid, name) VALUES (new.id, new.name);
END;

-- Index the jobs stored before this migration.
INSERT INTO training_job_names (training_job_names) VALUES ('rebuild');
