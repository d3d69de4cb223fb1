-- Per-stream event ordinals (issue 12 item 10). The rowid `seq` is one sequence for the whole
-- database, so FilterLogEvents' eventIds and GetLogEvents' tokens, which showed it, told an account
-- how many lines every other account's jobs had written. Within its stream, an event now has an
-- ordinal (1, 2, … in order of arrival, as `seq` is): the stream's reads and tokens position by
-- (timestamp, ordinal), and an eventId is an opaque function of (stream, ordinal)
-- (CloudWatchLogsOperations.eventID). `seq` stays, internal only: it orders equal timestamps
-- *across* streams in FilterLogEvents' merge, whose tokens are encrypted.
--
-- The backfill numbers every stored event in one statement inside the migration's transaction:
-- a database is either fully numbered or untouched (a crash rolls it back, the next start redoes
-- it). 1,000,000 events in 100 streams: 10.4 s (README "Following a job's logs").

ALTER TABLE log_events ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0;

-- The newest ordinal handed out: retention deletes events, never ordinals, so the next event's
-- ordinal never repeats an id a reader may have seen.
ALTER TABLE log_streams ADD COLUMN last_ordinal INTEGER NOT NULL DEFAULT 0;

UPDATE log_events SET ordinal = numbered.ordinal
FROM (SELECT seq, row_number() OVER (PARTITION BY stream_id ORDER BY seq) AS ordinal FROM log_events) AS numbered
WHERE log_events.seq = numbered.seq;

UPDATE log_streams SET last_ordinal = coalesce((SELECT max(ordinal) FROM log_events WHERE stream_id = log_streams.id), 0);

-- Every per-stream read walks (timestamp, ordinal); the rowid `seq` at the end of each index entry
-- is what FilterLogEvents' merge compares across streams, read from the index alone.
DROP INDEX log_events_by_stream_time;
CREATE UNIQUE INDEX log_events_by_stream_order ON log_events (stream_id, timestamp_ms, ordinal);
