-- Training jobs, their SecondaryStatusTransitions and their tags.
-- Timestamps are epoch milliseconds (UTC); column names carry their units.

CREATE TABLE training_jobs (
    -- AUTOINCREMENT: an id is never reused, so containers named after a deleted job's id can
    -- never be mistaken for a re-created job of the same name.
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id              TEXT    NOT NULL CHECK (length(account_id) = 12),
    name                    TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
    arn                     TEXT    NOT NULL,
    status                  TEXT    NOT NULL CHECK (status IN ('InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped', 'Deleting')),
    secondary_status        TEXT    NOT NULL,
    failure_reason          TEXT,
    created_at_ms           INTEGER NOT NULL,
    last_modified_at_ms     INTEGER NOT NULL,
    training_started_at_ms  INTEGER,
    training_ended_at_ms    INTEGER,
    stop_reason             TEXT    CHECK (stop_reason IN ('requested', 'maxRuntimeExceeded')),
    sigterm_sent_at_ms      INTEGER,
    sigkill_sent_at_ms      INTEGER,
    exit_code               INTEGER,
    oom_killed              INTEGER CHECK (oom_killed IN (0, 1)),
    -- What the scheduler needs to run the job (TrainingJobSpec as JSON).
    spec_json               TEXT    NOT NULL,
    -- The JSON object DescribeTrainingJob echoes (accepted request members plus defaults).
    request_echo_json       TEXT    NOT NULL,
    final_metrics_json      TEXT    NOT NULL DEFAULT '[]',
    -- Compare-and-set key: every stored change increments it.
    version                 INTEGER NOT NULL DEFAULT 1,
    UNIQUE (account_id, name)
) STRICT;

-- ListTrainingJobs: one index per sort order, each usable with the time filters.
CREATE INDEX training_jobs_by_creation ON training_jobs (account_id, created_at_ms, name);
CREATE INDEX training_jobs_by_status ON training_jobs (account_id, status, created_at_ms, name);
CREATE INDEX training_jobs_by_last_modified ON training_jobs (account_id, last_modified_at_ms);
-- The scheduler's work list.
CREATE INDEX training_jobs_active ON training_jobs (id) WHERE status IN ('InProgress', 'Stopping');

CREATE TABLE training_job_transitions (
    job_id          INTEGER NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    ended_at_ms     INTEGER,
    message         TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE training_job_tags (
    job_id      INTEGER NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    -- ListTags returns tags in the order they were first added.
    position    INTEGER NOT NULL,
    PRIMARY KEY (job_id, key)
) STRICT, WITHOUT ROWID;

-- Server-wide settings that must survive restarts (e.g. the key that signs pagination tokens).
CREATE TABLE server_settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
) STRICT, WITHOUT ROWID;
