-- Container output as CloudWatch Logs shows it: one log stream per training host, one event per
-- stdout/stderr line (reference sagemaker-semantics §2.8; DESIGN §1).
-- Timestamps are epoch milliseconds (UTC) unless the column says otherwise.

CREATE TABLE log_streams (
    id                          INTEGER PRIMARY KEY,
    account_id                  TEXT    NOT NULL CHECK (length(account_id) = 12),
    -- e.g. /aws/sagemaker/TrainingJobs (botocore logs LogGroupName: 1..512 characters).
    log_group                   TEXT    NOT NULL CHECK (length(log_group) BETWEEN 1 AND 512),
    -- <job>/algo-1-<epoch seconds> (DG-logs).
    stream_name                 TEXT    NOT NULL CHECK (length(stream_name) BETWEEN 1 AND 512),
    -- The job whose container writes the stream. Deliberately no foreign key: CloudWatch keeps a
    -- deleted job's logs (until retention removes them), so DeleteTrainingJob must not cascade.
    job_id                      INTEGER NOT NULL,
    host                        TEXT    NOT NULL,
    created_at_ms               INTEGER NOT NULL,
    -- Bounds of the events ever stored (NULL until the first event), as DescribeLogStreams shows them.
    first_event_timestamp_ms    INTEGER,
    last_event_timestamp_ms     INTEGER,
    last_ingested_at_ms         INTEGER,
    -- The newest source (Docker) timestamp stored: where capture resumes after a restart. Kept on
    -- the stream so that retention deleting the events does not move it back.
    last_source_timestamp_ns    INTEGER,
    -- UTF-8 bytes of the stored messages (DescribeLogGroups' storedBytes).
    stored_bytes                INTEGER NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0),
    -- DescribeLogStreams by name (prefix ranges, keyset paging), GetLogEvents' lookup, and the
    -- account's log groups (DescribeLogGroups groups this index's prefix).
    UNIQUE (account_id, log_group, stream_name),
    -- openLogStream is idempotent per job and host.
    UNIQUE (job_id, host)
) STRICT;

-- DescribeLogStreams orderBy=LastEventTime; streams without events sort first.
CREATE INDEX log_streams_by_last_event
    ON log_streams (account_id, log_group, coalesce(last_event_timestamp_ms, -1), stream_name);

CREATE TABLE log_events (
    -- The rowid: one ingestion sequence for the whole database. It orders events with equal
    -- timestamps (in ingestion order), positions the paging tokens and is FilterLogEvents' eventId.
    seq                         INTEGER PRIMARY KEY,
    stream_id                   INTEGER NOT NULL REFERENCES log_streams (id) ON DELETE CASCADE,
    -- What the API returns (CloudWatch event timestamps are milliseconds): floor(source ns / 1e6).
    timestamp_ms                INTEGER NOT NULL CHECK (timestamp_ms >= 0),
    -- Docker's timestamp, in nanoseconds: with the message, what tells a line read again after a
    -- restart (Docker's `since` is inclusive) from a new one.
    source_timestamp_ns         INTEGER NOT NULL,
    ingested_at_ms              INTEGER NOT NULL,
    message                     TEXT    NOT NULL
) STRICT;

-- Every event query is per stream and in (timestamp, seq) order: GetLogEvents both ways, each
-- stream's cursor in FilterLogEvents' merge, the de-duplication probe (its timestamp_ms is derived
-- from the source nanoseconds) and retention's per-stream delete.
CREATE INDEX log_events_by_stream_time ON log_events (stream_id, timestamp_ms, seq);
