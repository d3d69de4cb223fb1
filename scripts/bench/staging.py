#!/usr/bin/env python3
"""What `--workspace-staging api` costs next to `bind`, on the local Docker engine (not a timed test).

Starts its own `trainyard serve --runtime docker` twice (bind, then api) on temporary data
directories, puts a --channel-mb MB channel in the S3 API with boto3, and runs --runs jobs each
(busybox, `ContainerEntrypoint ["/bin/sh", "-c", ...]`) that read the channel (`cat > /dev/null`)
and, with --model-mb, write a model of that size. Per job, from the engine's `start`/`die` events
of the TRAINING container (`docker events`, nanoseconds) and the API:

  create → training started   CreateTrainingJob sent → the training container's `start` event
                              (bind: the copy from the object store; api: that, plus stage-in)
  exit → job ended            the training container's `die` event → Describe says Completed
                              (bind: packing model.tar.gz; api: that, plus stage-out)

Medians; the extra time of api is the difference of the two rows.

--swarm: the same on the test swarm (scripts/swarm/up.sh, root): `--runtime swarm`, jobs pinned to
the worker node (`node.role==worker`), the server on the bridge address 10.199.0.1 where the
worker's helpers reach it, the staging image from the test registry; events from the worker's
engine. bind works there only because the worker shares this machine's filesystem.
Usage: scripts/bench/staging.py [--runs 3] [--channel-mb 100] [--model-mb 0] [--swarm] [--binary PATH]
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
# The test swarm of scripts/swarm/env.sh.
SWARM_HOST = "10.199.0.1"
SWARM_MANAGER = "unix:///run/trainyard-swarm/manager.sock"
SWARM_WORKER = "unix:///run/trainyard-swarm/worker.sock"
SWARM_REGISTRY = "10.199.0.1:5000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Events:
    """{(job name, event): time in seconds} of training containers (not staging helpers)."""

    def __init__(self, engine=None):
        self.times = {}
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["docker"] + (["-H", engine] if engine else []) + ["events", "--filter", "type=container", "--filter", "event=start", "--filter", "event=die",
             "--filter", "label=trainyard.job", "--format", "{{json .}}"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            attributes = event["Actor"]["Attributes"]
            if "trainyard.staging.helper" in attributes:
                continue
            with self.lock:
                self.times.setdefault((attributes.get("trainyard.job"), event["Action"]), event["timeNano"] / 1e9)

    def of(self, job, action):
        with self.lock:
            return self.times.get((job, action))

    def close(self):
        self.process.terminate()


def run_mode(mode, args, events):
    data = pathlib.Path(tempfile.mkdtemp(prefix=f"staging-bench-{mode}-"))
    port = free_port()
    log = open(data / "server.log", "wb")
    host = SWARM_HOST if args.swarm else "127.0.0.1"
    runtime = ["--runtime", "docker"]
    if args.swarm:
        runtime = ["--runtime", "swarm", "--docker-host", SWARM_MANAGER, "--registry", SWARM_REGISTRY,
                   "--swarm-constraint", "node.role==worker"]
    server = subprocess.Popen([args.binary, "serve", "--host", host, "--port", str(port), "--data-dir", str(data)] + runtime +
                              ["--workspace-staging", mode, "--stop-grace-seconds", "2"], stdout=log, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://{host}:{port}"
        for _ in range(200):
            try:
                import urllib.request
                urllib.request.urlopen(endpoint + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        config = botocore.config.Config(retries={"max_attempts": 1})
        clients = {service: boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                                         aws_secret_access_key="x", config=config) for service in ("sagemaker", "s3")}
        s3, sm = clients["s3"], clients["sagemaker"]
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="channel/data.bin", Body=os.urandom(args.channel_mb << 20))
        script = "cat /opt/ml/input/data/train/data.bin > /dev/null"
        if args.model_mb:
            script += f"; head -c {args.model_mb << 20} /dev/urandom > /opt/ml/model/weights.bin"
        starts, ends = [], []
        for run in range(args.runs):
            name = f"staging-bench-{mode}-{run}-{os.urandom(2).hex()}"
            sent = time.time()
            sm.create_training_job(
                TrainingJobName=name, RoleArn=ROLE,
                AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                        "ContainerEntrypoint": ["/bin/sh", "-c", script]},
                InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": "s3://bench/channel/"}}}],
                OutputDataConfig={"S3OutputPath": "s3://bench/output"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
                StoppingCondition={"MaxRuntimeInSeconds": 600})
            while True:
                job = sm.describe_training_job(TrainingJobName=name)
                if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                    ended = time.time()
                    break
                time.sleep(0.02)
            assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
            for _ in range(100):
                if events.of(name, "start") and events.of(name, "die"):
                    break
                time.sleep(0.05)
            starts.append(events.of(name, "start") - sent)
            ends.append(ended - events.of(name, "die"))
        return statistics.median(starts), statistics.median(ends)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--channel-mb", type=int, default=100)
    parser.add_argument("--model-mb", type=int, default=0)
    parser.add_argument("--swarm", action="store_true", help="on the test swarm's worker node (scripts/swarm/up.sh first)")
    parser.add_argument("--binary", default=os.environ.get("TRAINYARD_BINARY") or str(ROOT / ".build/debug/trainyard"))
    args = parser.parse_args()
    events = Events(SWARM_WORKER if args.swarm else None)
    try:
        results = {mode: run_mode(mode, args, events) for mode in ("bind", "api")}
    finally:
        events.close()
    print(f"{'swarm worker node' if args.swarm else 'docker'}: channel {args.channel_mb} MB, model {args.model_mb} MB, {args.runs} runs, medians (s)")
    print(f"{'':8} {'create → training started':>26} {'exit → job ended':>18}")
    for mode, (start, end) in results.items():
        print(f"{mode:8} {start:26.2f} {end:18.2f}")
    print(f"{'api-bind':8} {results['api'][0] - results['bind'][0]:26.2f} {results['api'][1] - results['bind'][1]:18.2f}")


if __name__ == "__main__":
    main()
