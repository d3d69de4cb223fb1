#!/usr/bin/env python3
"""Crash safety: bounded load plus running jobs while the server is killed with SIGKILL at random
points and restarted on the same data directory.

Checks, after the last restart: every acknowledged CreateTrainingJob exists; every job reaches the
terminal state its behaviour implies (Completed, Failed, or Stopped when a StopTrainingJob was
acknowledged); no container labelled trainyard.job is left behind; PRAGMA integrity_check is ok.

    scripts/crash-test.py                        # release check: 10 kills, 120 jobs, Docker runtime
    scripts/crash-test.py --kills 3 --jobs 24    # the small setting CI runs
    scripts/crash-test.py --runtime simulated    # without Docker
    scripts/crash-test.py --runtime simulated --phase-seconds 0    # phases that take no time

Prints one summary line: kills, jobs, acknowledged creates, lost, wrong states, orphans.
Exit status 0 only if nothing was lost or wrong.
"""
import argparse
import json
import os
import pathlib
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE = "trainyard-test/busybox:latest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, data_dir, runtime, phase_seconds):
        self.binary, self.data_dir, self.runtime, self.phase_seconds = binary, data_dir, runtime, phase_seconds
        self.port = free_port()
        self.process = None
        self.log = open(data_dir / "server.log", "ab")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--runtime", self.runtime,
             "--stop-grace-seconds", "2", "--simulated-phase-seconds", str(self.phase_seconds)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"server exited with {self.process.returncode}; see {self.data_dir}/server.log")
                time.sleep(0.05)
        raise SystemExit("server did not come up")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def client(endpoint):
    return boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))


# What each job does, and the status it must end in when no stop was acknowledged.
BEHAVIOURS = [
    ("complete", {"TRAINYARD_TEST_BEHAVIOUR": "sleep", "TRAINYARD_TEST_SLEEP_SECONDS": "2",
                  "TRAINYARD_SIMULATE_TRAINING_SECONDS": "2"}, "Completed"),
    ("fail", {"TRAINYARD_TEST_BEHAVIOUR": "fail", "TRAINYARD_SIMULATE_EXIT_CODE": "3"}, "Failed"),
    ("long", {"TRAINYARD_TEST_BEHAVIOUR": "trap-term", "TRAINYARD_SIMULATE_TRAINING_SECONDS": "600"}, None),
]


def job_request(name, environment):
    return {
        "TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/Crash",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://crash/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900}, "Environment": environment,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=120)
    parser.add_argument("--runtime", default="docker", choices=["docker", "simulated"])
    parser.add_argument("--binary", default=os.environ.get("TRAINYARD_BINARY") or str(ROOT / ".build/debug/trainyard"))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--phase-seconds", type=float, default=0.3,
                        help="simulated runtime: seconds per phase (0: a job with nothing to download or upload is "
                             "stored Downloading with Training, and its exit with its end)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for all jobs to end after the last kill")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # Job names carry a token of this run, so only this run's containers count as its orphans
    # (other tests may use the same engine at the same time).
    run_token = os.urandom(3).hex()
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-crash-"))
    server = Server(args.binary, data_dir, args.runtime, args.phase_seconds)
    server.start()

    acknowledged = {}  # name -> behaviour index
    stop_acknowledged = set()
    lock = threading.Lock()
    done = threading.Event()

    def create_load():
        for index in range(args.jobs):
            kind = index % len(BEHAVIOURS)
            name = f"crash-{run_token}-{index}-{BEHAVIOURS[kind][0]}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    client(server.endpoint).create_training_job(**job_request(name, BEHAVIOURS[kind][1]))
                    with lock:
                        acknowledged[name] = kind
                    break
                except botocore.exceptions.ClientError as error:
                    if error.response["Error"]["Code"] == "ResourceInUse":
                        # The create went through before a kill cut its answer off: it exists.
                        with lock:
                            acknowledged[name] = kind
                        break
                    raise
                except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.ReadTimeoutError, urllib.error.URLError, ConnectionError):
                    time.sleep(0.05)
            time.sleep(rng.uniform(0, 0.05))
        done.set()

    def stop_load():
        while not done.is_set() or rng.random() < 0.5:
            with lock:
                candidates = [n for n, k in acknowledged.items() if BEHAVIOURS[k][0] == "long" and n not in stop_acknowledged]
            if candidates:
                name = rng.choice(candidates)
                try:
                    client(server.endpoint).stop_training_job(TrainingJobName=name)
                    with lock:
                        stop_acknowledged.add(name)
                except botocore.exceptions.ClientError:
                    pass  # not InProgress yet or any more: no acknowledgement
                except Exception:
                    pass  # the server is down right now
            time.sleep(rng.uniform(0.05, 0.3))
            if done.is_set():
                break

    creator = threading.Thread(target=create_load)
    stopper = threading.Thread(target=stop_load)
    creator.start()
    stopper.start()
    kills = 0
    while kills < args.kills:
        time.sleep(rng.uniform(0.3, 2.0))
        server.kill()
        kills += 1
        server.start()
    creator.join()
    done.set()
    stopper.join()

    # Every long job that was never stopped gets stopped now, so everything can end.
    sm = client(server.endpoint)
    for name, kind in list(acknowledged.items()):
        if BEHAVIOURS[kind][0] == "long" and name not in stop_acknowledged:
            try:
                sm.stop_training_job(TrainingJobName=name)
                stop_acknowledged.add(name)
            except botocore.exceptions.ClientError as error:
                print(f"could not stop {name}: {error}", file=sys.stderr)

    lost, wrong, final = [], [], {}
    deadline = time.time() + args.timeout
    pending = set(acknowledged)
    while pending and time.time() < deadline:
        for name in list(pending):
            try:
                job = sm.describe_training_job(TrainingJobName=name)
            except botocore.exceptions.ClientError:
                lost.append(name)
                pending.discard(name)
                continue
            if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                final[name] = job["TrainingJobStatus"]
                pending.discard(name)
        time.sleep(0.5)
    for name, kind in acknowledged.items():
        expected = "Stopped" if name in stop_acknowledged else BEHAVIOURS[kind][2]
        if name in final and expected and final[name] != expected:
            wrong.append(f"{name}: {final[name]}, expected {expected}")
    server.stop()

    orphans = []
    if args.runtime == "docker":
        listing = subprocess.run(
            ["docker", "ps", "-a", "--filter", "label=trainyard.job", "--format", '{{.ID}} {{.Label "trainyard.job"}}'],
            capture_output=True, text=True)
        orphans = [line.split()[0] for line in listing.stdout.splitlines()
                   if len(line.split()) == 2 and line.split()[1].startswith(f"crash-{run_token}-")]
    integrity = sqlite3.connect(data_dir / "trainyard.sqlite").execute("PRAGMA integrity_check").fetchone()[0]
    summary = {
        "kills": kills, "jobs": args.jobs, "acknowledged": len(acknowledged), "stopsAcknowledged": len(stop_acknowledged),
        "lost": len(lost), "stuck": len(pending), "wrongState": len(wrong), "orphans": len(orphans),
        "integrity": integrity,
    }
    print(json.dumps(summary))
    for line in wrong[:20] + [f"lost {n}" for n in lost[:20]] + [f"stuck {n}" for n in sorted(pending)[:20]]:
        print("  " + line, file=sys.stderr)
    ok = not lost and not pending and not wrong and not orphans and integrity == "ok"
    if not ok:
        print(f"data directory kept for inspection: {data_dir}", file=sys.stderr)
        if orphans:
            subprocess.run(["docker", "rm", "-f"] + orphans, capture_output=True)
    else:
        subprocess.run(["rm", "-rf", str(data_dir)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
