"""Hostile and broken input over raw sockets: every request gets a 4xx or a closed connection, never
a 5xx, and the server keeps serving other clients meanwhile. Every case is bounded in time."""
import json
import socket
import time

import pytest


def exchange(server, raw, timeout=5.0):
    """Sends raw bytes, returns (status or None if the connection closed without an answer, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    status = int(data[9:12])
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status, body


def post(body, target="SageMaker.ListTrainingJobs", extra_headers=b""):
    if isinstance(body, str):
        body = body.encode()
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: " + target.encode() + b"\r\nConnection: close\r\n" + extra_headers
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


MALFORMED_BODIES = {
    "truncated JSON": b'{"MaxResults": 1',
    "truncated string": b'{"NameContains": "abc',
    "huge number": b'{"MaxResults": 1' + b"0" * 400 + b"}",
    "huge negative number": b'{"MaxResults": -9' + b"9" * 40 + b"}",
    "negative number": b'{"MaxResults": -5}',
    "float for integer": b'{"MaxResults": 1e308}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep object nesting": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "invalid UTF-8": b'{"NameContains": "\xff\xfe\xfd"}',
    "lone surrogate": b'{"NameContains": "\\ud800"}',
    "NUL bytes": b'{"NameContains": "a\x00b"}',
    "not JSON at all": b"\x00\x01\x02\x03",
    "JSON array": b"[1, 2, 3]",
    "JSON string": b'"hello"',
    "wrong member types": b'{"MaxResults": "ten", "SortBy": 5, "CreationTimeAfter": []}',
    "giant string member": b'{"NameContains": "' + b"a" * 200_000 + b'"}',
}


@pytest.mark.parametrize("case", sorted(MALFORMED_BODIES))
def test_malformed_bodies_get_a_4xx_json_error(server, case):
    status, body = exchange(server, post(MALFORMED_BODIES[case]))
    assert status is not None and 400 <= status < 500, (case, status, body[:300])
    assert "__type" in json.loads(body)


def test_create_with_hostile_values_never_stores_a_job(server, sm):
    bodies = [
        '{"TrainingJobName": "x", "RoleArn": 1}',
        '{"TrainingJobName": "' + "a" * 10_000 + '"}',
        '{"TrainingJobName": "ok-name", "RoleArn": "arn:aws:iam::123456789012:role/x", '
        '"OutputDataConfig": {"S3OutputPath": "s3://b/o"}, "ResourceConfig": {"InstanceType": "ml.m5.large", '
        '"InstanceCount": -1}, "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"}}',
        '{"TrainingJobName": "ok-name", "HyperParameters": {"k": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}}",
    ]
    for body in bodies:
        status, answer = exchange(server, post(body, target="SageMaker.CreateTrainingJob"))
        assert status is not None and 400 <= status < 500, (status, answer[:300])
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_oversized_body_is_refused_without_reading_it(server_factory):
    server = server_factory(extra_args=["--max-body-bytes", "4096"])
    status, body = exchange(server, post(b'{"NameContains": "' + b"a" * 100_000 + b'"}'))
    assert status == 413
    assert json.loads(body)["__type"]
    # A declared length far beyond the limit is refused from the headers alone.
    started = time.time()
    status, _ = exchange(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n"
                                 b"X-Amz-Target: SageMaker.ListTrainingJobs\r\n\r\n{")
    # Reading the body would wait for 10 GB that never come, until the 60 s request timeout.
    waited = time.time() - started
    assert status in (413, None) and waited < 30, f"answered after {waited:.1f}s"


def test_stalled_partial_requests_do_not_starve_other_clients(server, sm):
    stalled = []
    try:
        for index in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            # Half a request line, half the headers, or a body that never comes.
            sock.sendall([b"POST / HT", b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Tar",
                          b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a"][index % 3])
            stalled.append(sock)
        started = time.time()
        for _ in range(20):
            sm.list_training_jobs(MaxResults=1)
        # Starved calls would wait for the stalled ones' 60 s request timeout.
        waited = time.time() - started
        assert waited < 30, f"20 calls took {waited:.1f}s beside 20 stalled connections"
    finally:
        for sock in stalled:
            sock.close()


def test_a_request_trickled_byte_by_byte_is_cut_off_at_the_request_timeout(server_factory):
    """A client sending one byte every 0.3 s never trips the idle timeout; the request timeout
    (from the request's first byte) closes it, and the server keeps answering others meanwhile."""
    server = server_factory(extra_args=["--request-timeout-seconds", "2"])
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListTrainingJobs\r\n" + b"X-Pad: " + b"a" * 200
    started = time.time()
    closed_after = None
    try:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # reset by the server
                closed_after = time.time() - started
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(1024) == b"":
                    closed_after = time.time() - started
                    break
            except socket.timeout:
                pass
            except OSError:
                closed_after = time.time() - started
                break
            if time.time() - started > 15:
                break
            # Another client is served while this one trickles.
            if int(time.time() - started) % 2 == 0:
                status, _ = exchange(server, post(b"{}"))
                assert status == 200
    finally:
        sock.close()
    assert closed_after is not None, "the trickling connection was never closed"
    assert 1.5 <= closed_after < 6, closed_after


def test_garbage_request_lines_and_headers_get_4xx_or_close(server):
    cases = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
        b"GARBAGE\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/9.9\r\n\r\n",
        b"POST /%00%ff HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    ]
    for raw in cases:
        status, body = exchange(server, raw)
        assert status is None or 400 <= status < 500, (raw[:40], status, body[:200])
    # Still serving.
    status, body = exchange(server, post(b"{}"))
    assert status == 200 and "TrainingJobSummaries" in json.loads(body)
