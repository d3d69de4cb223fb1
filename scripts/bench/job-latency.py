#!/usr/bin/env python3
"""Job latencies of the Docker runtime, measured against the real engine (not a timed test).

Starts its own `trainyard serve --runtime docker` on a temporary data directory and measures, over
--runs jobs each (medians printed):

  create → container started   CreateTrainingJob sent → the container's first line of shell
                               ("timestamp start <µs>", TRAINYARD_TEST_TIMESTAMPS=1)
  create → Training            CreateTrainingJob sent → the Training transition's StartTime
  stop → SIGTERM handler       StopTrainingJob sent → the trap-term handler's timestamp inside the
                               container
  stop → engine SIGTERM        StopTrainingJob sent → the engine's `kill` event with signal 15
  SIGKILL − (SIGTERM + grace)  for an ignore-term job: how late after the end of the grace window
                               SIGKILL reaches the engine (engine `kill` events, nanoseconds)
  stop → Stopped               StopTrainingJob sent → the Stopped transition's StartTime, for a
                               container that exits on SIGTERM (its model is uploaded in between)
  floor                        `docker run --rm --network none <image> true`, wall clock, in the
                               same run
  stop floor                   `docker stop` of a running container that exits on SIGTERM (the
                               same trap-term behaviour), wall clock, in the same run

Container timestamps come from adjtimex(2) inside the container (busybox's date has no %N), taken
after one fork of adjtimex and awk: they lag the event by a few milliseconds at most. All clocks
are this machine's one clock.

Usage: scripts/bench/job-latency.py [--runs 10] [--grace 1] [--binary PATH]
The binary defaults to $TRAINYARD_BINARY, else .build/release/trainyard when it is at least as new
as .build/debug/trainyard, else the debug build. Build the test image first
(scripts/test-images/build.sh; this script runs it).
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore.config

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "trainyard-test/busybox:latest"
ROLE = "arn:aws:iam::123456789012:role/Trainer"


def default_binary():
    if os.environ.get("TRAINYARD_BINARY"):
        return os.environ["TRAINYARD_BINARY"]
    release, debug = ROOT / ".build/release/trainyard", ROOT / ".build/debug/trainyard"
    if release.exists() and (not debug.exists() or release.stat().st_mtime >= debug.stat().st_mtime):
        return str(release)
    return str(debug)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineEvents:
    """`docker events` for containers labelled trainyard.job, collected in the background:
    {job name: [(action, signal or None, time in seconds)]}."""

    def __init__(self):
        self.events = {}
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "label=trainyard.job",
             "--format", "{{json .}}"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.3)  # let the subscription start before the first job

    def _read(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            attributes = event.get("Actor", {}).get("Attributes", {})
            job = attributes.get("trainyard.job")
            if job:
                with self.lock:
                    self.events.setdefault(job, []).append(
                        (event.get("Action") or event.get("status"), attributes.get("signal"), event["timeNano"] / 1e9))

    def first(self, job, action, signal_number=None, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for got_action, got_signal, at in self.events.get(job, []):
                    if got_action == action and (signal_number is None or got_signal == str(signal_number)):
                        return at
            time.sleep(0.01)
        return None

    def close(self):
        self.process.terminate()
        self.process.wait()


class Server:
    def __init__(self, binary, grace):
        self.data_dir = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-bench-"))
        self.port = free_port()
        self.log = open(self.data_dir / "server.log", "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--runtime", "docker", "--stop-grace-seconds", str(grace), "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"trainyard did not start: {(self.data_dir / 'server.log').read_text()[-2000:]}")
                time.sleep(0.05)
        self.sm = boto3.client(
            "sagemaker", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def create(self, name, behaviour):
        self.sm.create_training_job(
            TrainingJobName=name, RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://bench/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            Environment={"TRAINYARD_TEST_BEHAVIOUR": behaviour, "TRAINYARD_TEST_TIMESTAMPS": "1"})

    def describe(self, name):
        return self.sm.describe_training_job(TrainingJobName=name)

    def wait(self, name, statuses, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.describe(name)
            if job["TrainingJobStatus"] in statuses or job["SecondaryStatus"] in statuses:
                return job
            time.sleep(0.01)
        raise SystemExit(f"{name} did not reach {statuses}")

    def container_stamps(self, name):
        """{event: seconds} from the job's uploaded model.tar.gz (timestamps.txt)."""
        path = self.data_dir / "s3" / "bench" / "output" / name / "output" / "model.tar.gz"
        with tarfile.open(path) as archive:
            text = archive.extractfile("timestamps.txt").read().decode()
        stamps = {}
        for line in text.splitlines():
            _, event, micros = line.split()
            stamps.setdefault(event, int(micros) / 1e6)
        return stamps

    def stored(self, name):
        connection = sqlite3.connect(f"file:{self.data_dir / 'trainyard.sqlite'}?mode=ro", uri=True)
        try:
            row = connection.execute(
                "SELECT sigterm_sent_at_ms, sigkill_sent_at_ms FROM training_jobs WHERE name = ?", (name,)).fetchone()
            return row
        finally:
            connection.close()

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def container_output(name):
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=trainyard.job={name}"],
                         capture_output=True, text=True).stdout.split()
    if not ids:
        return ""
    return subprocess.run(["docker", "logs", ids[0]], capture_output=True, text=True).stdout


def wait_ready(server, name):
    server.wait(name, ("Training",))
    deadline = time.time() + 30
    while "ready" not in container_output(name).split("\n"):
        if time.time() > deadline:
            raise SystemExit(f"{name} never printed ready")
        time.sleep(0.01)


def ms(values):
    values = sorted(values)
    return (f"median {statistics.median(values) * 1000:8.1f} ms   min {values[0] * 1000:8.1f}   "
            f"max {values[-1] * 1000:8.1f}   (n={len(values)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--grace", type=float, default=1.0, help="--stop-grace-seconds of the measured server")
    parser.add_argument("--binary", default=default_binary())
    args = parser.parse_args()

    build = subprocess.run(["bash", str(ROOT / "scripts/test-images/build.sh")])
    if build.returncode != 0:
        raise SystemExit("scripts/test-images/build.sh failed")
    print(f"binary: {args.binary}")
    print(f"engine: {subprocess.run(['docker', 'version', '--format', '{{.Server.Version}}'], capture_output=True, text=True).stdout.strip()}"
          f", {os.cpu_count()} CPUs, runs={args.runs}, grace={args.grace}s")

    floor = []
    for _ in range(args.runs):
        started = time.time()
        subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "true"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        floor.append(time.time() - started)

    stop_floor = []
    for _ in range(args.runs):
        container = subprocess.run(
            ["docker", "run", "-d", "--network", "none", "-e", "TRAINYARD_TEST_BEHAVIOUR=trap-term", IMAGE, "train"],
            check=True, capture_output=True, text=True).stdout.strip()
        try:
            deadline = time.time() + 30
            while "ready" not in subprocess.run(["docker", "logs", container], capture_output=True,
                                                text=True).stdout.split("\n"):
                if time.time() > deadline:
                    raise SystemExit("the stop-floor container never printed ready")
                time.sleep(0.02)
            started = time.time()
            subprocess.run(["docker", "stop", "-t", "120", container], check=True, stdout=subprocess.DEVNULL)
            stop_floor.append(time.time() - started)
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)

    events = EngineEvents()
    server = Server(args.binary, args.grace)
    token = os.urandom(3).hex()
    create_to_start, create_to_training, stop_to_handler, stop_to_engine_term = [], [], [], []
    stop_to_stopped = []
    kill_late, kill_late_stored = [], []
    try:
        # Create → container start, and stop → SIGTERM inside: a trap-term job, stopped when ready.
        for run in range(args.runs):
            name = f"bench-term-{token}-{run}"
            created = time.time()
            server.create(name, "trap-term")
            wait_ready(server, name)
            stopped = time.time()
            server.sm.stop_training_job(TrainingJobName=name)
            job = server.wait(name, ("Stopped", "Failed", "Completed"))
            stamps = server.container_stamps(name)
            create_to_start.append(stamps["start"] - created)
            training = next(t for t in job["SecondaryStatusTransitions"] if t["Status"] == "Training")
            create_to_training.append(training["StartTime"].timestamp() - created)
            stop_to_handler.append(stamps["sigterm"] - stopped)
            final = next(t for t in job["SecondaryStatusTransitions"] if t["Status"] == "Stopped")
            stop_to_stopped.append(final["StartTime"].timestamp() - stopped)
            engine_term = events.first(name, "kill", 15)
            if engine_term:
                stop_to_engine_term.append(engine_term - stopped)

        # SIGKILL after the grace window: an ignore-term job.
        for run in range(args.runs):
            name = f"bench-kill-{token}-{run}"
            server.create(name, "ignore-term")
            wait_ready(server, name)
            server.sm.stop_training_job(TrainingJobName=name)
            server.wait(name, ("Stopped", "Failed", "Completed"), timeout=args.grace + 30)
            term, kill = events.first(name, "kill", 15), events.first(name, "kill", 9)
            if term and kill:
                kill_late.append(kill - term - args.grace)
            # The SIGKILL's time is stored when the engine's kill call returns, which can come after
            # the exit was seen and the job ended: give it a moment.
            deadline = time.time() + 5
            stored_term, stored_kill = server.stored(name)
            while stored_kill is None and time.time() < deadline:
                time.sleep(0.05)
                stored_term, stored_kill = server.stored(name)
            if stored_term is not None and stored_kill is not None:
                kill_late_stored.append((stored_kill - stored_term) / 1000 - args.grace)
    finally:
        server.close()
        events.close()
        leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=trainyard.job"],
                                   capture_output=True, text=True).stdout.split()
        mine = [c for c in leftovers if token in subprocess.run(
            ["docker", "inspect", "--format", "{{index .Config.Labels \"trainyard.job\"}}", c],
            capture_output=True, text=True).stdout]
        if mine:
            subprocess.run(["docker", "rm", "-f", *mine], capture_output=True)

    print()
    print(f"floor: docker run --rm --network none {IMAGE} true")
    print(f"    {ms(floor)}")
    print("create → container started (first shell line inside)")
    print(f"    {ms(create_to_start)}")
    print("create → Training (transition StartTime)")
    print(f"    {ms(create_to_training)}")
    print("stop → SIGTERM at the engine (docker kill event)")
    print(f"    {ms(stop_to_engine_term)}")
    print("stop → SIGTERM handler running inside the container")
    print(f"    {ms(stop_to_handler)}")
    print("stop → Stopped (transition StartTime), container exits on SIGTERM")
    print(f"    {ms(stop_to_stopped)}")
    print(f"stop floor: docker stop of a {IMAGE} container that exits on SIGTERM")
    print(f"    {ms(stop_floor)}")
    print(f"SIGKILL − (SIGTERM + grace {args.grace}s), engine kill events")
    print(f"    {ms(kill_late)}")
    print("SIGKILL − (SIGTERM + grace), as stored by Trainyard")
    print(f"    {ms(kill_late_stored)}")


if __name__ == "__main__":
    sys.exit(main())
