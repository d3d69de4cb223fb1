"""HTTP-level attacks on a shared server (issue 12, items 6 and 10), black-box: the real binary over
real sockets. Each test failed on the server before these fixes and passes after.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, job_request, wait_for

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time the process has used so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def health(port, timeout=10):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def open_idle_connections(port, count):
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def closed_by_server(sock, timeout=10):
    """True when the server closed this (idle) connection: EOF or a reset within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def closed_connections(sockets, expected, timeout=15):
    """How many of `sockets` the server closes (EOF or reset) within `timeout`; stops waiting once
    `expected` have closed, then gives the rest half a second more to show any extra closes."""
    import select
    open_ = set(sockets)
    closed = 0
    deadline = time.monotonic() + timeout
    while open_:
        remaining = deadline - time.monotonic() if closed < expected else 0.5
        if remaining <= 0:
            break
        readable, _, _ = select.select(list(open_), [], [], remaining)
        if not readable:
            break
        for sock in readable:
            open_.discard(sock)
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            closed += data == b""
    return closed


def read_reply(sock):
    """Reads one HTTP reply until the server closes; returns (status, headers, body bytes)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def accept_error_lines(server):
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "accept" in line.lower() or "Too many open files" in line]


def test_idle_connection_flood_is_bounded_by_max_connections(server_factory):
    """Issue 12: 20,000 idle connections made the accept loop spin and /health go unanswered. With
    --max-connections 64, at most 64 stay open (the longest idle give way to newcomers), the server
    stays idle, and it logs about it at most once a second."""
    server = server_factory(extra_args=["--max-connections", "64"])
    flood = open_idle_connections(server.port, 300)
    try:
        before = cpu_seconds(server.process.pid)
        closed = closed_connections(flood, expected=len(flood) - 64)
        # Each event loop thread keeps its share of the 64, so with uneven accepting fewer may stay.
        assert len(flood) - 64 <= closed < len(flood), f"{closed} of {len(flood)} connections were closed; at most 64 stay"
        # Closing them costs almost nothing; a spinning accept loop would burn a core here.
        used = cpu_seconds(server.process.pid) - before
        assert used < 2.0, f"server used {used:.2f} s of CPU while closing {closed} connections"
        lines = [line for line in server.log_path.read_text().splitlines()
                 if "refused" in line or "idle connection" in line]
        assert len(lines) <= 15, f"{len(lines)} log lines about closed connections"
    finally:
        for sock in flood:
            sock.close()
    wait_for(lambda: health(server.port)[0] == 200, timeout=30, message="/health after the flood")


def test_health_answers_during_an_idle_connection_flood(server_factory):
    """Issue 12 (left open by the first fix): with every slot held by idle sockets, new connections
    were refused, so a flood *kept open* locked out real clients. Now the longest-idle connection
    gives way to the newcomer: /health answers while 200 idle sockets are held against
    --max-connections 64, and a request already on its way in is not cut."""
    server = server_factory(extra_args=["--max-connections", "64"])
    # Half a request head, sent before the flood: the oldest connection, but not idle.
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    flood = open_idle_connections(server.port, 200)
    try:
        closed_connections(flood, expected=len(flood) - 63)
        start = time.monotonic()
        status, body = health(server.port)
        elapsed = time.monotonic() - start
        assert status == 200 and body.get("status") == "ok", (status, body)
        assert elapsed < 5, f"/health took {elapsed:.2f} s during the flood"
        print(f"/health during a flood of {len(flood)} idle sockets (limit 64): {elapsed * 1000:.1f} ms")
        slow.sendall(b"\r\n")
        slow.settimeout(10)
        assert slow.recv(12).startswith(b"HTTP/1.1 200"), "the request in progress was cut"
        lines = [line for line in server.log_path.read_text().splitlines() if "idle connection" in line]
        assert 1 <= len(lines) <= 15, lines
    finally:
        slow.close()
        for sock in flood:
            sock.close()


def test_accept_errors_pause_the_listener_instead_of_spinning(server_factory, tmp_path):
    """At the process's descriptor limit accept() fails with EMFILE. The listener pauses and the
    error is logged at most once a second, instead of a busy loop writing a line per attempt."""

    def low_descriptor_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))  # the server cannot raise it

    from conftest import TrainyardServer

    server = TrainyardServer(tmp_path / "data", extra_args=["--max-connections", "1000"])
    server.popen_options = {"preexec_fn": low_descriptor_limit}
    server.start()
    try:
        flood = open_idle_connections(server.port, 300)  # the backlog takes what accept() cannot
        try:
            start = time.monotonic()
            before = cpu_seconds(server.process.pid)
            # Long enough for a spinning loop to show (it burns a whole core); the measured value
            # is in the message.
            time.sleep(3)
            used = cpu_seconds(server.process.pid) - before
            elapsed = time.monotonic() - start
            assert used < 0.5 * elapsed, f"server used {used:.2f} s of CPU in {elapsed:.1f} s at the descriptor limit"
            lines = accept_error_lines(server)
            assert 1 <= len(lines) <= elapsed + 5, f"{len(lines)} accept error lines in {elapsed:.1f} s: {lines[:3]}"
        finally:
            for sock in flood:
                sock.close()
        wait_for(lambda: health(server.port)[0] == 200, timeout=30, message="/health once descriptors are free")
    finally:
        server.stop()


def test_half_closed_client_gets_the_whole_reply(server):
    """Issue 12: a client that shuts down its write side after sending its request got 16 KB of a
    250 KB reply. A half-close is not a close: the reply must arrive whole."""
    sm = server.client()
    hyperparameters = {f"parameter{index:03}": "x" * 2500 for index in range(100)}  # ~250 KB
    sm.create_training_job(**job_request("half-close", HyperParameters=hyperparameters))
    body = json.dumps({"TrainingJobName": "half-close"}).encode()
    # Answered on the loop thread as is; padded past 16 KB it is answered on the pool instead.
    for padding in (b"", b" " * (20 << 10)):
        payload = body + padding
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: SageMaker.DescribeTrainingJob\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            sock.shutdown(socket.SHUT_WR)
            status, headers, reply = read_reply(sock)
        assert status == 200
        assert len(reply) == int(headers["content-length"]), f"got {len(reply)} of {headers['content-length']} bytes"
        assert json.loads(reply)["HyperParameters"] == hyperparameters


@pytest.mark.parametrize("lengths", [("2", "2"), ("2", "40")])
def test_duplicate_content_length_is_a_400(server, lengths):
    """Two Content-Length fields make the body's end ambiguous (request smuggling); AWS front ends
    refuse them. The server answers 400 and closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: SageMaker.ListTrainingJobs\r\n"
            + f"Content-Length: {lengths[0]}\r\nContent-Length: {lengths[1]}\r\n\r\n".encode()
            + b"{}" + b" " * 38)
        status, headers, body = read_reply(sock)  # reads until the server closes
    assert status == 400
    assert json.loads(body)["__type"] == "SerializationException"
    assert headers.get("connection", "").lower() == "close"


def test_request_ids_are_not_sequential(server):
    """Issue 12: request ids were a fixed prefix plus a counter, so two of one client's ids told how
    many requests others made in between. Now no two ids share their first half."""
    ids = []
    for _ in range(20):
        status, headers, _ = server.raw("/", headers={"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                      "Content-Type": "application/x-amz-json-1.1"})
        assert status == 200
        ids.append(headers["x-amzn-RequestId"])
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    halves = [i.replace("-", "")[:16] for i in ids]
    assert len(set(halves)) == len(halves), f"ids share a prefix: {ids[:3]}"
    tails = [int(i.replace("-", "")[16:], 16) for i in ids]
    assert not any(b - a == 1 for a, b in zip(tails, tails[1:])), f"consecutive ids: {ids[:3]}"


def test_health_is_503_while_the_database_cannot_commit(tmp_path):
    """Issue 12: /health said ok while the disk was full. The data directory is a 4 MiB tmpfs in a
    mount namespace of its own; filling it makes commits fail, and /health must say so, then
    recover once space is free again."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("needs root with unshare and nsenter to mount a small tmpfs")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    data = tmp_path / "data"
    log = open(tmp_path / "server.log", "wb")
    script = (f'mount -t tmpfs -o size=4m tmpfs "{tmp_path}" && mkdir "{data}" && '
              f'exec "{BINARY}" serve --runtime simulated --port 0 --data-dir "{data}"')
    process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                               stdout=subprocess.PIPE, stderr=log)
    try:
        line = process.stdout.readline().decode()
        match = re.fullmatch(r"trainyard listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, f"no listening line: {line!r} {(tmp_path / 'server.log').read_text()[-2000:]}"
        port = int(match.group(1))
        assert health(port)[0] == 200

        def in_namespace(*command):
            return subprocess.run(["nsenter", "-t", str(process.pid), "-m", "--", *command], capture_output=True)

        in_namespace("dd", "if=/dev/zero", f"of={data}/fill", "bs=64k")  # stops at ENOSPC
        status, body = health(port)
        assert status == 503, body
        assert any("database" in problem for problem in body["problems"]), body

        in_namespace("rm", "-f", f"{data}/fill")
        wait_for(lambda: health(port)[0] == 200, timeout=30, message="/health once space is free")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
