"""End-to-end fixtures: the built `trainyard` binary on a free loopback port, driven by real clients.

The binary comes from $TRAINYARD_BINARY (scripts/test sets it), else .build/debug/trainyard.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

import boto3
import botocore.config
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("TRAINYARD_BINARY") or str(ROOT / ".build" / "debug" / "trainyard")
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Trainer"
TEST_IMAGE = "trainyard-test/busybox:latest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TrainyardServer:
    """One `trainyard serve` process; `restart()` and `kill()` keep the data directory."""

    def __init__(self, data_dir, runtime="simulated", extra_args=(), env=None):
        self.data_dir = pathlib.Path(data_dir)
        self.runtime = runtime
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.port = free_port()
        self.process = None
        self.log_path = self.data_dir / "server.log"

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [BINARY, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--runtime", self.runtime] + self.extra_args
        env = dict(os.environ)
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trainyard exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"trainyard did not become healthy: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def kill(self):
        self.stop(sig=signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def client(self, service="sagemaker", **config):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, **config))

    def raw(self, path, body=b"{}", headers=None, method="POST"):
        """One raw HTTP request; returns (status, headers, parsed JSON or None)."""
        request = urllib.request.Request(self.endpoint + path, data=body if method != "GET" else None, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                data = response.read()
                return response.status, dict(response.headers), json.loads(data) if data else None
        except urllib.error.HTTPError as error:
            data = error.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            return error.code, dict(error.headers), parsed


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(runtime="simulated", extra_args=(), env=None, data_dir=None):
        server = TrainyardServer(data_dir or tmp_path / f"data-{len(servers)}", runtime=runtime,
                                 extra_args=extra_args, env=env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory):
    """A simulated-runtime server with short phases and a short grace window."""
    return server_factory(extra_args=["--simulated-phase-seconds", "0.2", "--stop-grace-seconds", "1"])


@pytest.fixture
def sm(server):
    return server.client()


def job_request(name, **overrides):
    request = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request


def wait_for(predicate, timeout=30, interval=0.05, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}; last value: {last!r}")


def wait_for_status(sm, name, statuses=("Completed", "Failed", "Stopped"), timeout=60):
    def check():
        job = sm.describe_training_job(TrainingJobName=name)
        return job if job["TrainingJobStatus"] in statuses else None
    return wait_for(check, timeout=timeout, message=f"{name} to reach {statuses}")
