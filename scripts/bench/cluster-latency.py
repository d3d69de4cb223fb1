#!/usr/bin/env python3
"""Multi-host job start-up on the Docker runtime, measured against the real engine (issue 13; not a
timed test).

Starts its own `trainyard serve --runtime docker` on a temporary data directory and runs --runs
jobs of N = 1, 2 and 4 hosts each (busybox, `ContainerEntrypoint ["/bin/sh", "-c", "sleep 1"]`, no
channels). For each job, from the engine's own `start` events (`docker events`, nanoseconds):

  create → all running   CreateTrainingJob sent → the last host's container `start` event
  start skew             first host's `start` event → last host's `start` event

next to the floor `docker run --rm --network none <image> true` (wall clock, same run). Medians.
Usage: scripts/bench/cluster-latency.py [--runs 5] [--binary PATH]
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import boto3
import botocore.config

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "trainyard-test/busybox:latest"
ROLE = "arn:aws:iam::123456789012:role/Trainer"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartEvents:
    """{job name: [start time in seconds, one per host]} from `docker events`."""

    def __init__(self):
        self.starts = {}
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "event=start", "--filter",
             "label=trainyard.job", "--format", "{{json .}}"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            job = event["Actor"]["Attributes"].get("trainyard.job")
            with self.lock:
                self.starts.setdefault(job, []).append(event["timeNano"] / 1e9)

    def of(self, job):
        with self.lock:
            return list(self.starts.get(job, []))

    def close(self):
        self.process.terminate()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", default=os.environ.get("TRAINYARD_BINARY") or str(ROOT / ".build/debug/trainyard"))
    args = parser.parse_args()
    data = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-cluster-bench-"))
    port = free_port()
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--data-dir", str(data), "--runtime", "docker",
                               "--stop-grace-seconds", "1"], stderr=subprocess.DEVNULL)
    events = StartEvents()
    sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x",
                      config=botocore.config.Config(retries={"max_attempts": 0}))
    try:
        deadline = time.time() + 30
        while True:
            try:
                sm.list_training_jobs()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        token = os.urandom(3).hex()
        results = {}
        for count in (1, 2, 4):
            to_running, skews = [], []
            for run in range(args.runs):
                name = f"bench-n{count}-{run}-{token}"
                sent = time.time()
                sm.create_training_job(
                    TrainingJobName=name, RoleArn=ROLE,
                    AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                            "ContainerEntrypoint": ["/bin/sh", "-c", "sleep 1"]},
                    OutputDataConfig={"S3OutputPath": "s3://bucket/output"},
                    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 30},
                    StoppingCondition={"MaxRuntimeInSeconds": 600})
                while len(events.of(name)) < count:
                    time.sleep(0.01)
                starts = sorted(events.of(name))
                to_running.append((starts[-1] - sent) * 1000)
                skews.append((starts[-1] - starts[0]) * 1000)
                while sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
                    time.sleep(0.1)
            results[count] = (statistics.median(to_running), statistics.median(skews))
        floors = []
        for _ in range(args.runs):
            started = time.time()
            subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "true"], check=True,
                           capture_output=True)
            floors.append((time.time() - started) * 1000)
        print(f"binary: {args.binary}; runs: {args.runs} per N (medians)")
        print(f"{'N':>3} {'create → all running':>22} {'start skew':>12}")
        for count, (running, skew) in results.items():
            print(f"{count:>3} {running:>19.1f} ms {skew:>9.1f} ms")
        print(f"floor: docker run --rm --network none {IMAGE} true: {statistics.median(floors):.1f} ms")
    finally:
        events.close()
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
