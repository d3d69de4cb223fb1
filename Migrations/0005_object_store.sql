-- The S3 API's metadata (DESIGN §2). Object bytes stay in the folder <s3-root>/<bucket>/<key>;
-- these tables hold what a folder cannot: who owns a bucket, and each object's ETag, content type
-- and user metadata. A file without a row (written by a job, or copied in by hand) is still an
-- object: its row is computed when it is first read. A row whose size or mtime no longer matches
-- its file is stale (the file changed outside the API) and is recomputed the same way.

CREATE TABLE s3_buckets (
    name            TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL CHECK (length(account_id) = 12),
    created_at_ms   INTEGER NOT NULL
) STRICT;

CREATE INDEX s3_buckets_by_account ON s3_buckets (account_id, name);

CREATE TABLE s3_objects (
    bucket          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    size_bytes      INTEGER NOT NULL,
    -- The file's st_mtim (nanoseconds) when the row was written.
    mtime_ns        INTEGER NOT NULL,
    -- Without quotes: hex MD5, or hex MD5 of the parts' MD5s followed by "-<part count>".
    etag            TEXT    NOT NULL,
    content_type    TEXT,
    -- JSON object: x-amz-meta-* and the other headers S3 stores (Content-Encoding, Cache-Control, ...).
    headers_json    TEXT    NOT NULL DEFAULT '{}',
    -- JSON object: checksums the client asked for at upload, e.g. {"CRC32": "DUoRhQ=="}.
    checksums_json  TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (bucket, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE s3_multipart_uploads (
    upload_id       TEXT    PRIMARY KEY,
    bucket          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    account_id      TEXT    NOT NULL CHECK (length(account_id) = 12),
    initiated_at_ms INTEGER NOT NULL,
    content_type    TEXT,
    headers_json    TEXT    NOT NULL DEFAULT '{}',
    checksum_algorithm TEXT
) STRICT;

CREATE INDEX s3_multipart_uploads_by_key ON s3_multipart_uploads (bucket, key, upload_id);

CREATE TABLE s3_multipart_parts (
    upload_id       TEXT    NOT NULL REFERENCES s3_multipart_uploads (upload_id) ON DELETE CASCADE,
    part_number     INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    size_bytes      INTEGER NOT NULL,
    etag            TEXT    NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    checksum        TEXT,
    PRIMARY KEY (upload_id, part_number)
) STRICT, WITHOUT ROWID;
