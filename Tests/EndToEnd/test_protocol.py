"""The AWS JSON 1.1 wire protocol, spoken raw (urllib and http.client) to the real binary."""
import http.client
import json
import random
import socket

import pytest

from conftest import JSON_TYPE, call, job_request, wait_for

OPERATIONS = ["CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs", "UpdateTrainingJob",
              "DeleteTrainingJob", "AddTags", "ListTags", "DeleteTags"]


def connection(server):
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def exchange(conn, method, path, body=None, headers=None):
    """One request on an http.client connection; returns (status, headers dict (lower-case keys), raw body)."""
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def assert_json_error(status, headers, body, code, http_status=400):
    assert status == http_status, (status, body)
    assert body is not None and body["__type"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert headers.get("x-amzn-RequestId") or headers.get("x-amzn-requestid")


# --- Forms of a request ------------------------------------------------------------------------------

def test_header_form_and_path_form_are_the_same_operation(module_server):
    name = "forms"
    status, headers, body = call(module_server, "CreateTrainingJob", job_request(name))
    assert status == 200 and body["TrainingJobArn"].endswith("/forms")
    assert headers["Content-Type"] == JSON_TYPE
    via_header = call(module_server, "ListTrainingJobs", {"NameContains": "forms"})
    via_path = module_server.raw("/SageMaker.ListTrainingJobs", json.dumps({"NameContains": "forms"}).encode(),
                                 {"Content-Type": JSON_TYPE})
    assert via_header[0] == via_path[0] == 200
    assert via_header[2]["TrainingJobSummaries"][0]["TrainingJobName"] == "forms"
    assert [s["TrainingJobName"] for s in via_path[2]["TrainingJobSummaries"]] == ["forms"]
    assert via_path[1]["Content-Type"] == JSON_TYPE
    described = module_server.raw("/SageMaker.DescribeTrainingJob", json.dumps({"TrainingJobName": name}).encode(),
                                  {"Content-Type": JSON_TYPE})
    assert described[0] == 200 and described[2]["TrainingJobName"] == name
    # The path form also accepts a curl-style request without Content-Type.
    conn = connection(module_server)
    status, _, data = exchange(conn, "POST", "/SageMaker.DescribeTrainingJob", json.dumps({"TrainingJobName": name}))
    assert status == 200 and json.loads(data)["TrainingJobName"] == name
    conn.close()


def test_timestamps_are_epoch_second_numbers(module_server):
    call(module_server, "CreateTrainingJob", job_request("stamps"))
    status, _, body = call(module_server, "DescribeTrainingJob", {"TrainingJobName": "stamps"})
    assert status == 200
    assert isinstance(body["CreationTime"], (int, float)) and 1.6e9 < body["CreationTime"] < 4e9
    assert isinstance(body["LastModifiedTime"], (int, float))
    for transition in body["SecondaryStatusTransitions"]:
        assert isinstance(transition["StartTime"], (int, float))


def test_operations_without_output_answer_empty_object(module_server):
    call(module_server, "CreateTrainingJob", job_request("empties", Tags=[{"Key": "a", "Value": "b"}]))
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/empties"
    assert call(module_server, "DeleteTags", {"ResourceArn": arn, "TagKeys": ["a"]})[0::2] == (200, {})
    assert call(module_server, "StopTrainingJob", {"TrainingJobName": "empties"})[0::2] == (200, {})
    wait_for(lambda: call(module_server, "DescribeTrainingJob", {"TrainingJobName": "empties"})[2]
             ["TrainingJobStatus"] == "Stopped", timeout=10, message="empties stopped")
    assert call(module_server, "DeleteTrainingJob", {"TrainingJobName": "empties"})[0::2] == (200, {})


def test_empty_body_counts_as_empty_object(module_server):
    status, _, body = call(module_server, "ListTrainingJobs", body=b"")
    assert status == 200 and "TrainingJobSummaries" in body
    status, _, body = call(module_server, "ListTrainingJobs", body=b"  \n")
    assert status == 200


@pytest.mark.parametrize("content_type", [JSON_TYPE, "application/x-amz-json-1.0", "application/json",
                                          "application/x-amz-json-1.1; charset=utf-8"])
def test_json_content_types_are_accepted(module_server, content_type):
    status, _, body = call(module_server, "ListTrainingJobs", headers={"Content-Type": content_type})
    assert status == 200 and "TrainingJobSummaries" in body


def test_keep_alive_serves_many_requests_on_one_connection(module_server):
    conn = connection(module_server)
    ids = set()
    for index in range(5):
        status, headers, data = exchange(conn, "POST", "/", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                                   "Content-Type": JSON_TYPE})
        assert status == 200
        ids.add(headers["x-amzn-requestid"])
        status, headers, data = exchange(conn, "POST", "/", b"{bad", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                                     "Content-Type": JSON_TYPE})
        assert status == 400 and json.loads(data)["__type"] == "SerializationException"
        ids.add(headers["x-amzn-requestid"])
    assert len(ids) == 10, "every reply has its own request id"
    conn.close()


# --- Errors of the protocol layer --------------------------------------------------------------------

def test_missing_target_is_a_json_4xx(module_server):
    status, headers, body = module_server.raw("/", b"{}", {"Content-Type": JSON_TYPE})
    assert 400 <= status < 500
    assert_json_error(status, headers, body, "UnknownOperationException", status)
    assert headers["Content-Type"] == JSON_TYPE


@pytest.mark.parametrize("target", ["SageMaker.CreateModel", "SageMaker.", "SageMaker.listTrainingJobs",
                                    "NotSageMaker.ListTrainingJobs", "ListTrainingJobs", "sagemaker.ListTrainingJobs"])
def test_unknown_operation(module_server, target):
    status, headers, body = module_server.raw("/", b"{}", {"Content-Type": JSON_TYPE, "X-Amz-Target": target})
    assert_json_error(status, headers, body, "UnknownOperationException")


def test_unknown_operation_in_path_form(module_server):
    status, headers, body = module_server.raw("/SageMaker.CreateEndpoint", b"{}", {"Content-Type": JSON_TYPE})
    assert_json_error(status, headers, body, "UnknownOperationException")


@pytest.mark.parametrize("operation, body", [
    ("ListTrainingJobs", b"{not json"),
    ("ListTrainingJobs", b'{"MaxResults": 5'),
    ("ListTrainingJobs", b"[]"),
    ("ListTrainingJobs", b'[{"MaxResults": 5}]'),
    ("ListTrainingJobs", b'"a string"'),
    ("ListTrainingJobs", b"42"),
    ("ListTrainingJobs", b"null"),
    ("ListTrainingJobs", b'{"MaxResults": "5"}'),
    ("ListTrainingJobs", b'{"MaxResults": 2.5}'),
    ("ListTrainingJobs", b'{"MaxResults": true}'),
    ("ListTrainingJobs", b'{"NameContains": 7}'),
    ("ListTrainingJobs", b'{"NameContains": ["a"]}'),
    ("ListTrainingJobs", b'{"CreationTimeAfter": "yesterday"}'),
    ("ListTrainingJobs", b'{"NameContains": "\xff\xfe"}'),
    ("DescribeTrainingJob", b'{"TrainingJobName": {"a": 1}}'),
    ("CreateTrainingJob", json.dumps(job_request("ser", HyperParameters=["a"])).encode()),
    ("CreateTrainingJob", json.dumps(job_request("ser", HyperParameters={"epochs": 3})).encode()),
    ("CreateTrainingJob", json.dumps(job_request("ser", EnableNetworkIsolation="true")).encode()),
    ("CreateTrainingJob", json.dumps(job_request("ser", ResourceConfig={
        "InstanceType": "ml.m5.large", "InstanceCount": "1"})).encode()),
    ("CreateTrainingJob", json.dumps(job_request("ser", InputDataConfig={"ChannelName": "train"})).encode()),
    ("AddTags", b'{"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x", "Tags": {"a": "b"}}'),
    ("ListTrainingJobs", b"[" * 100000),
])
def test_serialization_exceptions(module_server, operation, body):
    status, headers, parsed = call(module_server, operation, body=body)
    assert_json_error(status, headers, parsed, "SerializationException")
    assert call(module_server, "DescribeTrainingJob", {"TrainingJobName": "ser"})[2]["__type"] == "ValidationException"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_a_json_4xx(module_server, content_type):
    status, headers, body = call(module_server, "ListTrainingJobs", headers={"Content-Type": content_type})
    assert 400 <= status < 500
    assert body["__type"] and body["message"]
    assert headers["x-amzn-RequestId"]
    status, _, body = call(module_server, "CreateTrainingJob", job_request("plain"),
                           headers={"Content-Type": content_type})
    assert 400 <= status < 500
    assert call(module_server, "DescribeTrainingJob", {"TrainingJobName": "plain"})[2] == {
        "__type": "ValidationException", "message": "Requested resource not found."}


def test_health(module_server):
    status, headers, body = module_server.raw("/health", method="GET")
    assert status == 200 and body["status"] == "ok"
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-amzn-RequestId"]
    conn = connection(module_server)
    status, headers, data = exchange(conn, "HEAD", "/health")
    assert status == 200 and data == b""
    conn.close()


@pytest.mark.parametrize("method, path", [("GET", "/nothing"), ("PUT", "/"), ("DELETE", "/health")])
def test_unknown_routes_are_json_4xx(module_server, method, path):
    status, headers, body = module_server.raw(path, b"{}", {"Content-Type": JSON_TYPE}, method=method)
    assert 400 <= status < 500
    assert body["__type"] and body["message"]
    assert headers["x-amzn-RequestId"]


def test_every_reply_has_a_request_id(module_server):
    replies = [
        call(module_server, "ListTrainingJobs"),
        call(module_server, "DescribeTrainingJob", {"TrainingJobName": "nope"}),
        call(module_server, "CreateTrainingJob", job_request("bad_name")),
        call(module_server, "Nope"),
        call(module_server, None),
        call(module_server, "ListTrainingJobs", body=b"{"),
        call(module_server, "ListTrainingJobs", headers={"Content-Type": "text/plain"}),
        module_server.raw("/health", method="GET"),
        module_server.raw("/missing", method="GET"),
    ]
    ids = [headers.get("x-amzn-RequestId") for _, headers, _ in replies]
    assert all(ids) and len(set(ids)) == len(ids)


# --- Body size limit ---------------------------------------------------------------------------------

@pytest.fixture
def small_server(server_factory):
    return server_factory(extra_args=["--max-body-bytes", "2048", "--simulated-phase-seconds", "0.2"])


def test_oversized_body_is_a_json_413_and_server_keeps_serving(small_server):
    big = json.dumps(job_request("big", HyperParameters={f"k{i}": "v" * 100 for i in range(40)})).encode()
    assert len(big) > 2048
    status, headers, body = call(small_server, "CreateTrainingJob", body=big)
    assert status == 413
    assert body["__type"] and body["message"]
    assert headers["Content-Type"] == JSON_TYPE
    assert headers["x-amzn-RequestId"]
    # Nothing was created, and the server answers the next requests normally.
    assert call(small_server, "DescribeTrainingJob", {"TrainingJobName": "big"})[2]["message"] == \
        "Requested resource not found."
    assert call(small_server, "CreateTrainingJob", job_request("small"))[0] == 200
    # Exactly at the limit is accepted; one byte more is not.
    at_limit = b"{" + b" " * 2046 + b"}"
    assert call(small_server, "ListTrainingJobs", body=at_limit)[0] == 200
    assert call(small_server, "ListTrainingJobs", body=at_limit[:-1] + b" }")[0] == 413
    # On a keep-alive connection the 413 does not break the following request.
    conn = connection(small_server)
    status, _, data = exchange(conn, "POST", "/", big, {"X-Amz-Target": "SageMaker.CreateTrainingJob",
                                                        "Content-Type": JSON_TYPE})
    assert status == 413 and json.loads(data)["__type"]
    try:
        status, _, data = exchange(conn, "POST", "/", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                              "Content-Type": JSON_TYPE})
    except (http.client.HTTPException, ConnectionError):
        conn.close()
        conn = connection(small_server)
        status, _, data = exchange(conn, "POST", "/", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                              "Content-Type": JSON_TYPE})
    assert status == 200 and [s["TrainingJobName"] for s in json.loads(data)["TrainingJobSummaries"]] == ["small"]
    conn.close()
    assert small_server.raw("/health", method="GET")[0] == 200
    assert small_server.process.poll() is None


def test_oversized_body_with_expect_continue_is_answered_at_once(small_server):
    with socket.create_connection(("127.0.0.1", small_server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListTrainingJobs\r\n"
                     b"Content-Type: application/x-amz-json-1.1\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert small_server.raw("/health", method="GET")[0] == 200


@pytest.mark.xfail(strict=True, reason=(
    "EventHTTP: a chunked body over --max-body-bytes is refused by libevent's own "
    "evhttp_set_max_body_size backstop (Sources/EventHTTP/EventLoop.swift, \"Backstop for bodies the guard leaves "
    "to evhttp\"), which answers a "
    "text/html 413 without x-amzn-RequestId; the JSON 413 guard (Connection.swift BodyLimitGuard) only "
    "sees declared Content-Length bodies"))
def test_oversized_chunked_body_is_a_json_413(small_server):
    conn = connection(small_server)
    conn.putrequest("POST", "/")
    conn.putheader("X-Amz-Target", "SageMaker.ListTrainingJobs")
    conn.putheader("Content-Type", JSON_TYPE)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(4):
        conn.send(b"400\r\n" + b" " * 1024 + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status == 413
    assert small_server.raw("/health", method="GET")[0] == 200
    assert json.loads(data)["__type"]
    assert response.getheader("x-amzn-RequestId")


# --- Never a 5xx for a client mistake ----------------------------------------------------------------

def odd_values(rng):
    return [None, True, False, 0, -1, 1, 2 ** 63, -(2 ** 63) - 1, 1.5, 1e308, "", " ", "x" * 3000, "ü∂😀", "%_\\",
            [], [None], [1, "a"], {}, {"": None}, {"Key": []}, {"a": {"b": {"c": [1]}}},
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/" + "a" * rng.randint(0, 70),
            rng.random() * 1e10, "1970-01-01T00:00:00Z", "s3://", "s3://bucket/../x"]


MEMBERS = {
    "CreateTrainingJob": ["TrainingJobName", "RoleArn", "AlgorithmSpecification", "OutputDataConfig", "ResourceConfig",
                          "StoppingCondition", "InputDataConfig", "HyperParameters", "Environment", "Tags",
                          "CheckpointConfig", "RetryStrategy", "VpcConfig", "EnableManagedSpotTraining"],
    "DescribeTrainingJob": ["TrainingJobName"],
    "StopTrainingJob": ["TrainingJobName"],
    "DeleteTrainingJob": ["TrainingJobName"],
    "UpdateTrainingJob": ["TrainingJobName", "ProfilerConfig", "ResourceConfig", "ProfilerRuleConfigurations",
                          "RemoteDebugConfig"],
    "ListTrainingJobs": ["MaxResults", "NextToken", "NameContains", "StatusEquals", "SortBy", "SortOrder",
                         "CreationTimeAfter", "CreationTimeBefore", "LastModifiedTimeAfter", "WarmPoolStatusEquals"],
    "AddTags": ["ResourceArn", "Tags"],
    "ListTags": ["ResourceArn", "MaxResults", "NextToken"],
    "DeleteTags": ["ResourceArn", "TagKeys"],
}


def test_never_a_5xx_for_odd_members(module_server):
    rng = random.Random(20240607)
    call(module_server, "CreateTrainingJob", job_request("fuzz-target", Environment={
        "TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"}))
    bases = {
        "CreateTrainingJob": job_request("fuzz-new"),
        "UpdateTrainingJob": {"TrainingJobName": "fuzz-target"},
        "AddTags": {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/fuzz-target",
                    "Tags": [{"Key": "a", "Value": "b"}]},
    }
    statuses = {}
    for attempt in range(400):
        operation = OPERATIONS[attempt % len(OPERATIONS)]
        payload = json.loads(json.dumps(bases.get(operation, {"TrainingJobName": "fuzz-target"})))
        for member in rng.sample(MEMBERS[operation], k=min(len(MEMBERS[operation]), rng.randint(1, 2))):
            payload[member] = rng.choice(odd_values(rng))
        if operation in ("DeleteTrainingJob", "StopTrainingJob") and payload.get("TrainingJobName") == "fuzz-target":
            payload["TrainingJobName"] = "fuzz-other"
        status, headers, body = call(module_server, operation, payload)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (operation, payload, body)
        assert headers.get("x-amzn-RequestId")
        if status >= 400:
            assert body["__type"] in ("ValidationException", "SerializationException", "ResourceInUse"), body
    assert module_server.process.poll() is None
    assert statuses.get(400, 0) > 100


def leaves(value, path=()):
    """Every (path, value) inside a JSON value, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, path + (index,))


def test_never_a_5xx_for_odd_nested_create_members(module_server):
    rng = random.Random(7)
    data = module_server.data_dir / "s3" / "bucket" / "train" / "part-0.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("1,2\n")
    template = job_request("nested", HyperParameters={"a": "1"}, Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "0"},
                           Tags=[{"Key": "k", "Value": "v"}], RetryStrategy={"MaximumRetryAttempts": 1},
                           CheckpointConfig={"S3Uri": "s3://bucket/ckpt"},
                           InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                               "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}])
    paths = [path for path, _ in leaves(template) if path and path[0] != "TrainingJobName"]
    created = []
    for attempt in range(150):
        payload = json.loads(json.dumps(template))
        payload["TrainingJobName"] = f"nested-{attempt}"
        path = rng.choice(paths)
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = rng.choice(odd_values(rng))
        status, headers, body = call(module_server, "CreateTrainingJob", payload)
        assert status < 500, (path, payload, body)
        if status == 200:
            created.append(payload["TrainingJobName"])
        else:
            assert body["__type"] in ("ValidationException", "SerializationException"), body
    # Whatever was accepted can be described and reaches an end; the server is still healthy.
    for name in created:
        status, _, body = call(module_server, "DescribeTrainingJob", {"TrainingJobName": name})
        assert status == 200, body
    wait_for(lambda: all(call(module_server, "DescribeTrainingJob", {"TrainingJobName": n})[2]["TrainingJobStatus"]
                         in ("Completed", "Failed", "Stopped") for n in created), timeout=30,
             message="accepted fuzz jobs to end")
    assert module_server.raw("/health", method="GET")[0] == 200


# --- Unknown members and nulls -----------------------------------------------------------------------

def test_unknown_members_are_ignored_and_never_echoed(module_server):
    """Coral drops members the model does not define; Describe must not show them (nor members only
    Describe may set, like TuningJobArn or WarmPoolStatus)."""
    request = job_request(
        "unknown-members", Bogus=1, TuningJobArn="arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/x",
        WarmPoolStatus={"Status": "Available"}, ProfilingStatus="Enabled",
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File", "Nested": "x"},
        StoppingCondition={"MaxRuntimeInSeconds": 600, "Extra": True})
    status, _, body = call(module_server, "CreateTrainingJob", request)
    assert status == 200, body
    status, _, job = call(module_server, "DescribeTrainingJob", {"TrainingJobName": "unknown-members", "Bogus": 2})
    assert status == 200
    for member in ("Bogus", "TuningJobArn", "WarmPoolStatus", "ProfilingStatus"):
        assert member not in job
    assert job["AlgorithmSpecification"] == {"TrainingImage": "img:1", "TrainingInputMode": "File",
                                             "EnableSageMakerMetricsTimeSeries": False}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    status, _, _ = call(module_server, "UpdateTrainingJob", {
        "TrainingJobName": "unknown-members", "ProfilerConfig": {"ProfilingIntervalInMilliseconds": 100, "Odd": 1},
        "ResourceConfig": {"KeepAlivePeriodInSeconds": 60, "InstanceType": "ml.p3.2xlarge"}})
    assert status == 200
    job = call(module_server, "DescribeTrainingJob", {"TrainingJobName": "unknown-members"})[2]
    assert job["ProfilerConfig"] == {"ProfilingIntervalInMilliseconds": 100}
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30,
                                     "KeepAlivePeriodInSeconds": 60}


def test_null_members_count_as_absent(module_server):
    request = job_request("null-members", VpcConfig=None, HyperParameters=None, Environment=None, Tags=None,
                          RetryStrategy=None, CheckpointConfig=None, StoppingCondition=None,
                          OutputDataConfig={"S3OutputPath": "s3://bucket/output", "KmsKeyId": None})
    status, _, body = call(module_server, "CreateTrainingJob", request)
    assert status == 200, body
    job = call(module_server, "DescribeTrainingJob", {"TrainingJobName": "null-members"})[2]
    assert None not in job.values()
    for member in ("VpcConfig", "Environment", "RetryStrategy", "CheckpointConfig"):
        assert member not in job
    assert job["HyperParameters"] == {}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert job["OutputDataConfig"]["KmsKeyId"] == ""
    status, _, body = call(module_server, "ListTrainingJobs", {"NameContains": "null-members", "NextToken": None,
                                                               "MaxResults": None})
    assert status == 200 and [s["TrainingJobName"] for s in body["TrainingJobSummaries"]] == ["null-members"]
