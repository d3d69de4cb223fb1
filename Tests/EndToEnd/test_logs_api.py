"""The CloudWatch Logs API (`Logs_20140328.*`) on the Trainyard port, driven by boto3's `logs` client
and `aws logs`.

Nothing captures container output yet, so the streams are seeded the test-only way: with the server
stopped, the rows capture will write (Migrations/0002_container_logs.sql) are inserted into its
SQLite file with Python's `sqlite3`, then the server is started again and only the API is used.
The seeded streams belong to no stored job, which is a state the server must handle anyway: a
job's logs outlive DeleteTrainingJob, as CloudWatch's do.
"""
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess

import botocore.exceptions
import pytest

from conftest import ACCOUNT, FAST_ARGS, REGION, TrainyardServer

GROUP = "/aws/sagemaker/TrainingJobs"
OTHER_ACCOUNT = "210987654321"
BASE_MS = 1_712_345_678_000
EPOCH = BASE_MS // 1000
INGESTED_MS = BASE_MS + 60_000


def stream_name(job, host="algo-1"):
    return f"{job}/{host}-{EPOCH}"


def lines(count, prefix="line", every=1):
    """`count` events, `every` events per millisecond, as (timestamp ns, message)."""
    return [((BASE_MS + i // every) * 1_000_000 + i, f"{prefix} {i}") for i in range(count)]


# (account, job, host, job id, events). Job ids name no stored job: logs outlive their jobs.
STREAMS = [
    (ACCOUNT, "logs-job", "algo-1", 9001, lines(250, every=3)),
    (ACCOUNT, "logs-job", "algo-2", 9001,
     [(ns, "ERROR disk full" if i % 10 == 0 else msg) for i, (ns, msg) in enumerate(lines(40, prefix="host2"))]),
    (ACCOUNT, "other-job", "algo-1", 9002, [(BASE_MS * 1_000_000, "ERROR elsewhere"), (BASE_MS * 1_000_000 + 1, "ünïcödé ✓")]),
    (OTHER_ACCOUNT, "secret-job", "algo-1", 9003, [(BASE_MS * 1_000_000, "another account's line")]),
]


def seed(db_path, streams=STREAMS):
    """Writes streams and events exactly as JobStore.openLogStream/appendLogEvents store them."""
    with contextlib.closing(sqlite3.connect(db_path)) as db, db:
        for account, job, host, job_id, events in streams:
            stamps = [ns // 1_000_000 for ns, _ in events]
            cursor = db.execute(
                "INSERT INTO log_streams (account_id, log_group, stream_name, job_id, host, created_at_ms,"
                " first_event_timestamp_ms, last_event_timestamp_ms, last_ingested_at_ms, last_source_timestamp_ns,"
                " stored_bytes, last_ordinal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, GROUP, stream_name(job, host), job_id, host, BASE_MS, min(stamps, default=None),
                 max(stamps, default=None), INGESTED_MS if events else None, max((ns for ns, _ in events), default=None),
                 sum(len(message.encode()) for _, message in events), len(events)))
            # Each stream numbers its events 1, 2, … in order of arrival (Migrations/0007).
            db.executemany(
                "INSERT INTO log_events (stream_id, timestamp_ms, source_timestamp_ns, ingested_at_ms, message, ordinal)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(cursor.lastrowid, ns // 1_000_000, ns, INGESTED_MS, message, ordinal)
                 for ordinal, (ns, message) in enumerate(events, start=1)])


def seeded_server(data_dir, extra_args=()):
    """A server whose database (created by the server itself) holds STREAMS."""
    server = TrainyardServer(data_dir, extra_args=list(FAST_ARGS) + list(extra_args)).start()
    server.stop()
    seed(server.data_dir / "trainyard.sqlite")
    return server.start()


@pytest.fixture(scope="module")
def logs_server(tmp_path_factory):
    server = seeded_server(tmp_path_factory.mktemp("logs-data"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def logs(logs_server):
    return logs_server.client("logs")


def read_forward(logs, name, **kwargs):
    """Every event from the head, following nextForwardToken until it comes back unchanged."""
    events, token, pages = [], None, 0
    while True:
        extra = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=name, startFromHead=True, **kwargs, **extra)
        pages += 1
        events += page["events"]
        if page["nextForwardToken"] == token:
            return events, pages
        token = page["nextForwardToken"]


def sdk_log_stream(logs, name, start_time=0, skip=0):
    """The SageMaker SDK's reader (SDK2 `sagemaker/logs.py:log_stream`): no limit, startTime and the
    previous forward token together, until a page is empty; `skip` events already printed."""
    next_token, count = None, 1
    while count > 0:
        extra = {"nextToken": next_token} if next_token is not None else {}
        response = logs.get_log_events(logGroupName=GROUP, logStreamName=name, startTime=start_time,
                                       startFromHead=True, **extra)
        next_token = response["nextForwardToken"]
        events = response["events"]
        count = len(events)
        if count > skip:
            events, skip = events[skip:], 0
        else:
            events, skip = [], skip - count
        yield from events


def test_describe_log_groups(logs):
    groups = logs.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    assert groups[0]["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*"
    assert groups[0]["storedBytes"] > 0
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"] == []


def test_describe_log_streams_as_the_sagemaker_sdk_does(logs):
    # SDK2 session.py:_flush_log_streams, for a 2-instance job.
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="logs-job/",
                                        orderBy="LogStreamName", limit=2)
    assert [s["logStreamName"] for s in streams["logStreams"]] == [stream_name("logs-job", "algo-1"),
                                                                   stream_name("logs-job", "algo-2")]
    assert "nextToken" not in streams  # the SDK's `while "nextToken" in streams` loop would never end
    first = streams["logStreams"][0]
    assert first["creationTime"] == BASE_MS and first["firstEventTimestamp"] == BASE_MS
    assert first["lastEventTimestamp"] == BASE_MS + 249 // 3 and first["lastIngestionTime"] == INGESTED_MS
    # One page at a time: a token only while more streams exist; the paginator sees each once.
    one = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="logs-job/", limit=1)
    assert "nextToken" in one
    paginated = [s["logStreamName"] for page in logs.get_paginator("describe_log_streams").paginate(
        logGroupName=GROUP, orderBy="LastEventTime", descending=True, PaginationConfig={"PageSize": 1})
        for s in page["logStreams"]]
    assert sorted(paginated) == sorted([stream_name("logs-job", "algo-1"), stream_name("logs-job", "algo-2"),
                                        stream_name("other-job")])
    assert stream_name("secret-job") not in paginated


def test_get_log_events_from_the_head_until_the_token_repeats(logs):
    events, pages = read_forward(logs, stream_name("logs-job"), limit=100)
    assert [e["message"] for e in events] == [f"line {i}" for i in range(250)]
    assert pages == 4  # 100 + 100 + 50, then an empty page carrying the same token
    assert events[0] == {"timestamp": BASE_MS, "message": "line 0", "ingestionTime": INGESTED_MS}
    assert all(isinstance(e["timestamp"], int) for e in events)


def test_get_log_events_start_time_is_inclusive_and_the_sdk_reader_resumes(logs):
    name = stream_name("logs-job")
    # Three events per millisecond: line 30..32 are at BASE_MS + 10.
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=name, startTime=BASE_MS + 10,
                               endTime=BASE_MS + 11, startFromHead=True)
    assert [e["message"] for e in page["events"]] == ["line 30", "line 31", "line 32"]
    # The SDK resumes at the last printed timestamp and skips what it printed there.
    assert [e["message"] for e in sdk_log_stream(logs, name)] == [f"line {i}" for i in range(250)]
    assert [e["message"] for e in sdk_log_stream(logs, name, start_time=BASE_MS + 10, skip=2)] == \
        [f"line {i}" for i in range(32, 250)]


def test_get_log_events_tail_and_backward_paging(logs):
    name = stream_name("logs-job")
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=name, limit=100)
    assert [e["message"] for e in tail["events"]] == [f"line {i}" for i in range(150, 250)]
    collected, token = [e["message"] for e in tail["events"]], tail["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=name, limit=100, nextToken=token)
        collected = [e["message"] for e in page["events"]] + collected
        if page["nextBackwardToken"] == token:
            break
        token = page["nextBackwardToken"]
    assert collected == [f"line {i}" for i in range(250)]


def test_filter_log_events(logs):
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == \
        [(stream_name("logs-job", "algo-2"), "ERROR disk full"), (stream_name("other-job"), "ERROR elsewhere")] + \
        [(stream_name("logs-job", "algo-2"), "ERROR disk full")] * 3
    assert found["searchedLogStreams"] == [] and "nextToken" not in found
    assert all(e["eventId"] for e in found["events"])
    phrase = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="other-job/", filterPattern='"ünïcödé ✓"')
    assert [e["message"] for e in phrase["events"]] == ["ünïcödé ✓"]
    # The paginator follows nextToken until it is absent: every event of the job once, in order.
    paginated = [e for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, logStreamNamePrefix="logs-job/", PaginationConfig={"PageSize": 37}) for e in page["events"]]
    assert len(paginated) == 290 and len({e["eventId"] for e in paginated}) == 290
    # Interleaved by timestamp; within a stream, ids (56 digits, CloudWatch's shape) follow its order.
    assert [e["timestamp"] for e in paginated] == sorted(e["timestamp"] for e in paginated)
    assert all(len(e["eventId"]) == 56 and e["eventId"].isdigit() for e in paginated)
    for name in {e["logStreamName"] for e in paginated}:
        ids = [e["eventId"] for e in paginated if e["logStreamName"] == name]
        assert ids == sorted(ids) and len({i[:36] for i in ids}) == 1


def test_errors_are_cloudwatch_errors(logs):
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as missing_stream:
        logs.get_log_events(logGroupName=GROUP, logStreamName="no-such-job/algo-1-1")
    assert missing_stream.value.response["Error"]["Message"] == "The specified log stream does not exist."
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as missing_group:
        logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs")
    assert missing_group.value.response["Error"]["Message"] == "The specified log group does not exist."
    # Another account's stream does not exist for this caller.
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=GROUP, logStreamName=stream_name("secret-job"))
    with pytest.raises(logs.exceptions.InvalidParameterException) as prefix_and_time:
        logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="logs-job/", orderBy="LastEventTime")
    assert prefix_and_time.value.response["Error"]["Message"] == "Cannot order by LastEventTime with a logStreamNamePrefix."
    with pytest.raises(logs.exceptions.InvalidParameterException) as limit:
        logs.describe_log_streams(logGroupName=GROUP, limit=51)
    assert "Member must have value less than or equal to 50" in limit.value.response["Error"]["Message"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName=GROUP, logStreamName=stream_name("logs-job"), nextToken="f/not-a-token")


def test_path_form(logs_server):
    status, _, body = logs_server.raw(
        "/Logs_20140328.GetLogEvents",
        json.dumps({"logGroupName": GROUP, "logStreamName": stream_name("other-job"), "startFromHead": True}).encode(),
        {"Content-Type": "application/x-amz-json-1.1"})
    assert status == 200
    assert [e["message"] for e in body["events"]] == ["ERROR elsewhere", "ünïcödé ✓"]


def cli_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    return env


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_get_log_events_and_filter(logs_server):
    def aws_logs(*args):
        result = subprocess.run(["aws", "--endpoint-url", logs_server.endpoint, "--output", "json", "logs", *args],
                                env=cli_env(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    page = aws_logs("get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream_name("logs-job"),
                    "--start-from-head", "--limit", "5")
    assert [e["message"] for e in page["events"]] == [f"line {i}" for i in range(5)]
    assert page["nextForwardToken"].startswith("f/") and page["nextBackwardToken"].startswith("b/")
    again = aws_logs("get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream_name("logs-job"),
                     "--start-from-head", "--next-token", page["nextForwardToken"], "--limit", "5")
    assert [e["message"] for e in again["events"]] == [f"line {i}" for i in range(5, 10)]
    # The CLI paginates FilterLogEvents itself, until nextToken is absent.
    filtered = aws_logs("filter-log-events", "--log-group-name", GROUP, "--filter-pattern", "ERROR", "--page-size", "2")
    assert len(filtered["events"]) == 5
    streams = aws_logs("describe-log-streams", "--log-group-name", GROUP, "--log-stream-name-prefix", "logs-job/")
    assert len(streams["logStreams"]) == 2


def test_each_signed_account_sees_only_its_own_logs(tmp_path):
    """With --auth sigv4, the signer's account scopes the logs (requests are signed for "logs")."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [
        {"accessKeyId": "AKIATRAINYARDLOGS01", "secretAccessKey": "secret-one", "accountId": ACCOUNT},
        {"accessKeyId": "AKIATRAINYARDLOGS02", "secretAccessKey": "secret-two", "accountId": OTHER_ACCOUNT},
    ]}))
    server = seeded_server(tmp_path / "data", extra_args=["--auth", "sigv4", "--credentials-file", str(credentials)])
    try:
        import boto3
        import botocore.config

        def client(key, secret):
            return boto3.client("logs", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=key,
                                aws_secret_access_key=secret,
                                config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))

        mine = client("AKIATRAINYARDLOGS01", "secret-one")
        theirs = client("AKIATRAINYARDLOGS02", "secret-two")
        assert len(mine.describe_log_streams(logGroupName=GROUP)["logStreams"]) == 3
        assert [s["logStreamName"] for s in theirs.describe_log_streams(logGroupName=GROUP)["logStreams"]] == \
            [stream_name("secret-job")]
        assert [e["message"] for e in theirs.filter_log_events(logGroupName=GROUP)["events"]] == ["another account's line"]
        with pytest.raises(theirs.exceptions.ResourceNotFoundException):
            theirs.get_log_events(logGroupName=GROUP, logStreamName=stream_name("logs-job"))
        with pytest.raises(botocore.exceptions.ClientError):
            client("AKIATRAINYARDLOGS01", "wrong-secret").describe_log_groups()
    finally:
        server.stop()
