#!/usr/bin/env python3
"""Create → running and Stop → SIGTERM on the remote node of a Docker Swarm (`--runtime swarm`),
next to the single-machine Docker runtime (issue 14; not a timed test).

Brings up the 2-node test swarm (scripts/swarm/up.sh; needs root) unless --keep-swarm finds it up,
starts one `trainyard serve` per runtime on a temporary data directory, and runs --runs jobs on each
(test image, behaviour trap-term: a SIGTERM handler that exits at once). Times come from the engine
that runs the container (`docker events` on the worker's engine for Swarm, on the shared engine for
Docker; all engines share this machine's clock). The swarm server stages workspaces through the API
(its default), so create → running includes the stage-in helper service:

  create → running    CreateTrainingJob sent → the container's `start` event
  stop → SIGTERM      StopTrainingJob sent   → the container's `kill` event with signal 15

Medians (and min/max). Usage: sudo scripts/bench/swarm-latency.py [--runs 5] [--binary PATH]
"""
import argparse
import json
import os
import pathlib
import re
import shutil
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


class EngineEvents:
    """`start` and `kill` events of trainyard containers on one engine: {job: {action: [(time, signal)]}}."""

    def __init__(self, host):
        self.events = {}
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["docker", "-H", host, "events", "--filter", "type=container", "--filter", "label=trainyard.job",
             "--format", "{{json .}}"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            attributes = event["Actor"]["Attributes"]
            if "trainyard.staging.helper" in attributes:
                continue  # a staging helper, not the training container
            with self.lock:
                self.events.setdefault(attributes.get("trainyard.job"), {}).setdefault(event["Action"], []).append(
                    (event["timeNano"] / 1e9, attributes.get("signal")))

    def first(self, job, action, signal=None, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for when, sig in self.events.get(job, {}).get(action, []):
                    if signal is None or sig == signal:
                        return when
            time.sleep(0.02)
        raise RuntimeError(f"no {action} event for {job}")

    def close(self):
        self.process.terminate()
        self.process.wait()


class Server:
    def __init__(self, binary, runtime, args, host="127.0.0.1"):
        self.dir = tempfile.mkdtemp(prefix=f"trainyard-bench-{runtime}-")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--host", host, "--port", "0", "--data-dir", self.dir, "--runtime", runtime,
             "--stop-grace-seconds", "5"] + args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            match = re.search(rb"listening on http://[^\s]+:(\d+)", open(self.log.name, "rb").read())
            if match:
                self.port = int(match.group(1))
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not start")
        self.sm = boto3.client(
            "sagemaker", endpoint_url=f"http://{host}:{self.port}", region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def close(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_job(server, events, name):
    request = {
        "TrainingJobName": name, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"TRAINYARD_TEST_BEHAVIOUR": "trap-term"},
    }
    created = time.time()
    server.sm.create_training_job(**request)
    started = events.first(name, "start")
    time.sleep(1.5)  # the handler is installed right after start ("ready")
    stopped = time.time()
    server.sm.stop_training_job(TrainingJobName=name)
    sigterm = events.first(name, "kill", signal="15")
    while server.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] not in ("Stopped", "Failed", "Completed"):
        time.sleep(0.1)
    return started - created, sigterm - stopped


def summary(values):
    return f"median {statistics.median(values):5.2f} s  (min {min(values):.2f}, max {max(values):.2f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", default=str(ROOT / ".build" / "debug" / "trainyard"))
    parser.add_argument("--keep-swarm", action="store_true", help="use a swarm that is already up, leave it up")
    options = parser.parse_args()

    swarm = {}
    if options.keep_swarm and os.path.exists("/run/trainyard-swarm/manager.sock"):
        swarm = {"MANAGER": "unix:///run/trainyard-swarm/manager.sock", "WORKER": "unix:///run/trainyard-swarm/worker.sock",
                 "REGISTRY": "10.199.0.1:5000"}
    else:
        out = subprocess.run(["bash", str(ROOT / "scripts/swarm/up.sh")], capture_output=True, text=True, check=True).stdout
        swarm = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        setups = [
            ("docker", "unix:///var/run/docker.sock", []),
            # Staging through the API (the swarm default): the server on the bridge address the
            # worker's helpers reach, the staging image from the test registry.
            ("swarm", swarm["WORKER"], ["--docker-host", swarm["MANAGER"], "--swarm-constraint", "node.role==worker",
                                        "--registry", swarm["REGISTRY"]]),
        ]
        token = os.urandom(3).hex()
        for runtime, engine, args in setups:
            events = EngineEvents(engine)
            server = Server(options.binary, runtime, args, host=swarm["REGISTRY"].split(":")[0] if runtime == "swarm" else "127.0.0.1")
            try:
                results = [run_job(server, events, f"bench-{runtime}-{token}-{i}") for i in range(options.runs)]
            finally:
                server.close()
                events.close()
            where = "remote node" if runtime == "swarm" else "this machine"
            print(f"{runtime:6}  create → running on {where}: {summary([r[0] for r in results])}")
            print(f"{runtime:6}  stop → SIGTERM on {where}:   {summary([r[1] for r in results])}")
    finally:
        if not options.keep_swarm:
            subprocess.run(["bash", str(ROOT / "scripts/swarm/down.sh")], capture_output=True)


if __name__ == "__main__":
    main()
