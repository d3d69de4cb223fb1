"""End-to-end fixtures: the built `trainyard` binary on a free loopback port, driven by real clients.

The binary comes from $TRAINYARD_BINARY (scripts/test sets it), else .build/debug/trainyard.
"""
import json
import os
import pathlib
import re
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


# `trainyard serve` prints this line once it is listening (Sources/trainyard/Server.swift).
LISTENING_LINE = re.compile(rb"trainyard listening on http://[^\s]+:(\d+)\n")


class TrainyardServer:
    """One `trainyard serve` process; `restart()` and `kill()` keep the data directory."""

    def __init__(self, data_dir, runtime="simulated", extra_args=(), env=None, host="127.0.0.1"):
        self.data_dir = pathlib.Path(data_dir)
        # The listening address: loopback, or (a swarm's nodes fetch staged data from the server)
        # an address of a bridge the test made.
        self.host = host
        self.runtime = runtime
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        # Learned from the server's "listening" line: the first start binds --port 0 (no race for a
        # free port with other processes); restarts ask for the same port again, so clients made
        # before a restart keep working.
        self.port = None
        self.process = None
        self.log_path = self.data_dir / "server.log"
        # Extra subprocess.Popen arguments (e.g. preexec_fn to lower the open-file limit).
        self.popen_options = {}

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def start(self, timeout=30):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [BINARY, "serve", "--host", self.host, "--port", str(self.port or 0), "--data-dir", str(self.data_dir),
                "--runtime", self.runtime] + self.extra_args
        env = dict(os.environ)
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        log_offset = self.log.tell()
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        **self.popen_options)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trainyard exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            if self.port is None:
                with open(self.log_path, "rb") as log:
                    log.seek(log_offset)
                    match = LISTENING_LINE.search(log.read())
                if match is None:
                    time.sleep(0.05)
                    continue
                self.port = int(match.group(1))
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

    def make(runtime="simulated", extra_args=(), env=None, data_dir=None, host="127.0.0.1"):
        server = TrainyardServer(data_dir or tmp_path / f"data-{len(servers)}", runtime=runtime,
                                 extra_args=extra_args, env=env, host=host)
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


# --- Helpers shared by the simulated-runtime suites (API, validation, protocol, CLI, restart). ---

JSON_TYPE = "application/x-amz-json-1.1"
FAST_ARGS = ("--simulated-phase-seconds", "0.2", "--stop-grace-seconds", "1")


def call(server, operation, payload=None, body=None, headers=None, path="/"):
    """One AWS JSON 1.1 request in the header form (`X-Amz-Target: SageMaker.<operation>`);
    `body` (bytes) overrides `payload`. Returns (status, headers, parsed JSON or None)."""
    all_headers = {"Content-Type": JSON_TYPE}
    if operation is not None:
        all_headers["X-Amz-Target"] = f"SageMaker.{operation}"
    all_headers.update(headers or {})
    data = body if body is not None else json.dumps(payload if payload is not None else {}).encode()
    return server.raw(path, data, all_headers)


def error_of(excinfo):
    """(code, message, HTTP status) of a botocore ClientError caught by pytest.raises."""
    response = excinfo.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def all_job_names(sm, **filters):
    """Every job name ListTrainingJobs yields for `filters`, following NextToken with the paginator."""
    names = []
    for page in sm.get_paginator("list_training_jobs").paginate(**filters, PaginationConfig={"PageSize": 100}):
        names += [summary["TrainingJobName"] for summary in page["TrainingJobSummaries"]]
    return names


def wait_for_secondary(sm, name, secondary, timeout=30):
    """Polls until the job's SecondaryStatus is `secondary`; returns the Describe output."""
    def check():
        job = sm.describe_training_job(TrainingJobName=name)
        return job if job["SecondaryStatus"] == secondary else None
    return wait_for(check, timeout=timeout, message=f"{name} to reach {secondary}")


def epoch(value):
    """A botocore timestamp (tz-aware datetime) as epoch seconds."""
    return value.timestamp()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    """One fast simulated-runtime server shared by a module's tests (for tests that only need
    isolation by job name)."""
    server = TrainyardServer(tmp_path_factory.mktemp("module-data"), extra_args=FAST_ARGS).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_sm(module_server):
    return module_server.client()


# ---------------------------------------------------------------------------------------------
# Docker runtime (test_docker_*.py): a real engine, the offline test image, and containers that
# are cleaned up whatever a test does.

TEST_IMAGE_BUILD = ROOT / "scripts" / "test-images" / "build.sh"
JOB_LABEL = "trainyard.job"


def docker(*args, check=True, timeout=60):
    """Runs the docker CLI; returns the CompletedProcess (text)."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def docker_engine_problem():
    """None when `docker info` answers, else why not."""
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "the docker client is not installed"
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if result.returncode != 0:
        return f"`docker info` failed: {result.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def docker_engine():
    """A reachable Docker engine with the test image built. Without an engine the Docker tests
    skip, except under CI=true, where a missing engine is a failure (CI must run them)."""
    problem = docker_engine_problem()
    if problem:
        message = f"no Docker engine reachable ({problem}); start one with scripts/start-dockerd.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " [CI=true: the Docker end-to-end tests must run]", pytrace=False)
        pytest.skip(message)
    build = subprocess.run(["bash", str(TEST_IMAGE_BUILD)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.fail(f"scripts/test-images/build.sh failed: {build.stderr[-2000:]}", pytrace=False)
    return True


def containers_for_job(name):
    """Ids of every container (running or not) labelled trainyard.job=<name>."""
    out = docker("ps", "-a", "-q", "--no-trunc", "--filter", f"label={JOB_LABEL}={name}").stdout
    return out.split()


class ContainerEvents:
    """What the Docker engine saw happen to one job's containers (`docker events`, label
    trainyard.job=<name>), from a second before it was made: the signals the server sent and the
    exit codes, with the engine's timestamps. Observes the server from outside, as a user's
    `docker events` would, instead of reading its database."""

    def __init__(self, name):
        import threading
        self.events = []
        self.lock = threading.Lock()
        # Events before this moment (the replayed second) are not this observer's: same machine, same clock.
        self.started = time.time()
        # --since replays from just before now: nothing sent between here and the subscription is missed.
        self.process = subprocess.Popen(
            ["docker", "events", "--since", f"{time.time() - 1:.3f}", "--filter", "type=container",
             "--filter", f"label={JOB_LABEL}={name}", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            with self.lock:
                self.events.append((event.get("Action") or event.get("status"), event["Actor"]["Attributes"],
                                    event["timeNano"] / 1e9))

    def _snapshot(self):
        with self.lock:
            return [event for event in self.events if event[2] >= self.started]

    def actions(self):
        return [action for action, _, _ in self._snapshot()]

    def kills(self):
        """[(signal number, engine time)] in order."""
        return [(int(attributes["signal"]), at) for action, attributes, at in self._snapshot() if action == "kill"]

    def exit_codes(self):
        return [int(attributes["exitCode"]) for action, attributes, _ in self._snapshot() if action == "die"]

    def wait_for_kill(self, signal_number, timeout=30):
        return wait_for(lambda: next((at for number, at in self.kills() if number == signal_number), None),
                        timeout=timeout, message=f"signal {signal_number} to reach the container")

    def wait_for_exit(self, timeout=30):
        return wait_for(lambda: self.exit_codes(), timeout=timeout, message="the container to exit")[0]

    def close(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def container_events():
    """container_events(job name) -> ContainerEvents, stopped after the test."""
    made = []

    def make(name):
        made.append(ContainerEvents(name))
        return made[-1]

    yield make
    for events in made:
        events.close()


def inspect_job_container(name):
    """`docker inspect` of the job's single container, or None when it has none."""
    ids = containers_for_job(name)
    if not ids:
        return None
    assert len(ids) == 1, f"job {name} has {len(ids)} containers: {ids}"
    result = docker("inspect", ids[0], check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def container_output(name):
    """stdout+stderr of the job's container so far ('' when it has none)."""
    ids = containers_for_job(name)
    if not ids:
        return ""
    result = docker("logs", ids[0], check=False)
    return result.stdout + result.stderr


class DockerJobs:
    """Unique job names for one test, and the containers they leave behind removed at the end."""

    def __init__(self):
        self.token = os.urandom(3).hex()
        self.names = []

    def name(self, base):
        name = f"{base}-{self.token}"
        self.names.append(name)
        return name

    def leftovers(self):
        return {name: containers_for_job(name) for name in self.names if containers_for_job(name)}

    def remove_all(self):
        for ids in self.leftovers().values():
            docker("rm", "-f", *ids, check=False)


@pytest.fixture
def docker_jobs(docker_engine):
    jobs = DockerJobs()
    yield jobs
    jobs.remove_all()


@pytest.fixture
def docker_server_factory(server_factory, docker_jobs):
    """Starts Docker-runtime servers (grace 2 s unless `grace` says otherwise; None = the default).
    At the end the servers stop before the test's containers are removed."""
    started = []

    def make(grace=2, extra_args=(), data_dir=None, env=None):
        args = ["--log-level", "debug"]
        if grace is not None:
            args += ["--stop-grace-seconds", str(grace)]
        server = server_factory(runtime="docker", extra_args=args + list(extra_args), data_dir=data_dir, env=env)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    docker_jobs.remove_all()


@pytest.fixture
def docker_server(docker_server_factory):
    return docker_server_factory()


def s3_path(server, uri):
    """The local path of an s3:// URI in the server's object store (<data-dir>/s3)."""
    assert uri.startswith("s3://"), uri
    return server.data_dir / "s3" / uri[len("s3://"):]


def job_output_dir(server, name, output_path="s3://bucket/output"):
    return s3_path(server, f"{output_path.rstrip('/')}/{name}/output")


def read_tarball(path):
    """{entry name: bytes} of a gzip tarball's regular files (names as stored)."""
    import tarfile
    with tarfile.open(path, "r:gz") as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}


def tarball_names(path):
    import tarfile
    with tarfile.open(path, "r:gz") as archive:
        return archive.getnames()


def instance_id(server):
    """The server's instance id: the `trainyard.instance` label of the Docker resources it makes."""
    import sqlite3
    connection = sqlite3.connect(f"file:{server.data_dir / 'trainyard.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        instance = connection.execute("SELECT instance_id FROM instance_identity WHERE singleton = 1").fetchone()[0]
    finally:
        connection.close()
    assert instance
    return instance


def stored_job(server, name):
    """The job's row in the server's SQLite database (read-only; the server may be running).
    Internal columns change without notice: tests observe through the API or the engine
    (ContainerEvents) instead; kept for diagnostics only."""
    import sqlite3
    connection = sqlite3.connect(f"file:{server.data_dir / 'trainyard.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM training_jobs WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None
    finally:
        connection.close()


def transition_times(job):
    """{secondary status: StartTime as epoch seconds} from SecondaryStatusTransitions."""
    return {t["Status"]: t["StartTime"].timestamp() for t in job["SecondaryStatusTransitions"]}


def many_files_dataset(folder, count=10000, per_folder=500):
    """`count` small files in folders of `per_folder`: Trainyard takes about a second per 10,000
    to stage them, which lets a test catch a job Downloading."""
    folder = pathlib.Path(folder)
    for index in range(count):
        sub = folder / f"part-{index // per_folder:03}"
        if index % per_folder == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{index % per_folder:03}.txt").write_text("x" * 64)
    return folder


@pytest.fixture(scope="session")
def many_files(tmp_path_factory, docker_engine):
    """A 20,000-file dataset (about two seconds of staging), made once: staging only reads it."""
    return many_files_dataset(tmp_path_factory.mktemp("many-files"), 20000)


def file_channel(name, folder):
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{folder}"}}}


def behaviour(name, **variables):
    """The Environment that picks a test-image behaviour (scripts/test-images/train-entry.sh)."""
    return {"TRAINYARD_TEST_BEHAVIOUR": name, **{key: str(value) for key, value in variables.items()}}


def wait_until_ready(sm, name, timeout=30):
    """Training, and the container has printed "ready" (its signal traps are installed: a SIGTERM
    sent earlier would meet PID 1's default disposition, which ignores it)."""
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training",
             timeout=timeout, message=f"{name} to be Training")
    wait_for(lambda: "ready" in container_output(name).split("\n"), timeout=timeout,
             message=f"{name}'s container to print ready")


SWARM_SCRIPTS = ROOT / "scripts" / "swarm"


@pytest.fixture(scope="session")
def swarm_cluster(docker_engine):
    """A real 2-node Docker Swarm on this machine (scripts/swarm/up.sh): a manager engine of its own
    on the bridge tyswarm-br (10.199.0.1), a worker engine in the network namespace tyswarm-n2
    (10.199.0.2), and a registry on 10.199.0.1:5000. Yields the endpoints; scripts/swarm/down.sh
    removes everything at the end (scripts/test runs it again on exit, whatever happens)."""
    if os.geteuid() != 0:
        pytest.skip("the test swarm needs root (network namespaces, its own dockerd engines)")
    started = subprocess.run(["bash", str(SWARM_SCRIPTS / "up.sh")], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        subprocess.run(["bash", str(SWARM_SCRIPTS / "down.sh")], capture_output=True, timeout=120)
        pytest.fail(f"scripts/swarm/up.sh failed:\n{started.stdout}\n{started.stderr}", pytrace=False)
    endpoints = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield endpoints
    finally:
        subprocess.run(["bash", str(SWARM_SCRIPTS / "down.sh")], capture_output=True, timeout=120)
