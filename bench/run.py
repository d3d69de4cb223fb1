#!/usr/bin/env python3
"""Trainyard vs moto_server, side by side, with wrk (README: Benchmarks).

Starts the release build of Trainyard (simulated runtime, so no container starts) and moto_server on
loopback, seeds both with the same jobs, then drives each operation at each connection count with
wrk, alternating the two peers round by round so both see the same machine noise. Prints req/s and
p50/p99 for each, and the Trainyard/moto ratio. Everything is bounded in count and time and stays
on 127.0.0.1.

    bench/run.py                 # full run (a few minutes)
    bench/run.py --quick         # smoke setting: tiny durations, one connection count
"""
import argparse
import http.client
import json
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRK_DIR = ROOT / "bench" / "wrk"
SEED_PREFIX = "bench-seed-"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up in {timeout} s")


def sagemaker_call(endpoint, target, body):
    request = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/x-amz-json-1.1")
    request.add_header("X-Amz-Target", "SageMaker." + target)
    request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request, "
                                        "SignedHeaders=host, Signature=0000")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def job_body(name):
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/Bench",
        "AlgorithmSpecification": {"TrainingImage": "bench:latest", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def create_jobs(endpoint, names, threads=8):
    """Creates a job for each name over `threads` keep-alive connections (raw HTTP, AWS JSON 1.1);
    stops the benchmark if any create fails."""
    host, port = endpoint.split("//")[1].split(":")
    names = list(names)
    errors = []

    def worker(offset):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.CreateTrainingJob"}
        for name in names[offset::threads]:
            connection.request("POST", "/", json.dumps(job_body(name)), headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                errors.append(body[:200])
        connection.close()

    workers = [threading.Thread(target=worker, args=(offset,)) for offset in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} creates failed, e.g. {errors[0]}")


def create_jobs_raw(endpoint, names, connections=4):
    """As `create_jobs`, with a client that costs the machine little: requests are encoded before
    the clock starts and sent over raw keep-alive sockets, one in flight per connection (as an SDK
    sends them), from `connections` processes (no GIL between them). For the burst benchmark,
    where a Python http.client would take a core of the two the server needs. Returns the seconds
    from the first send to the last response."""
    import multiprocessing
    host, port = endpoint.split("//")[1].split(":")
    names = list(names)
    shares = [names[offset::connections] for offset in range(connections)]
    ready = multiprocessing.Barrier(connections + 1)
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_raw_creator, args=(host, int(port), share, ready, results))
               for share in shares]
    for worker in workers:
        worker.start()
    ready.wait()
    started = time.time()
    outcomes = [results.get() for _ in workers]
    finished = max(outcome[1] for outcome in outcomes)
    for worker in workers:
        worker.join()
    failures = [outcome[0] for outcome in outcomes if outcome[0]]
    if failures:
        raise SystemExit(f"creates failed, e.g. {failures[0]}")
    return finished - started


def _raw_creator(host, port, names, ready, results):
    requests = []
    for name in names:
        body = json.dumps(job_body(name)).encode()
        requests.append(b"POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-amz-json-1.1\r\n"
                        b"X-Amz-Target: SageMaker.CreateTrainingJob\r\nContent-Length: %d\r\n\r\n%s"
                        % (host.encode(), port, len(body), body))
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.wait()
    buffer = b""
    failure = None
    for request in requests:
        sock.sendall(request)
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = buffer[:head_end]
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                if len(buffer) >= head_end + 4 + length:
                    if not head.startswith(b"HTTP/1.1 200") and failure is None:
                        failure = buffer[:head_end + 4 + length][:300]
                    buffer = buffer[head_end + 4 + length:]
                    break
            chunk = sock.recv(65536)
            if not chunk:
                failure = failure or b"connection closed"
                break
            buffer += chunk
    sock.close()
    results.put((failure, time.time()))


class Peer:
    def __init__(self, name, args, port, health_path, env=None):
        self.name, self.args, self.port, self.health_path = name, args, port, health_path
        self.env = env
        self.process = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir):
        self.log = open(log_dir / f"{self.name}.log", "wb")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_healthy(self.endpoint + self.health_path, self.process)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process:
            self.log.close()

    def rss_mib(self):
        try:
            for line in open(f"/proc/{self.process.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None


def run_wrk(peer, script, connections, seconds, env):
    threads = max(1, min(2, connections))
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(WRK_DIR / script), peer.endpoint + "/"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=seconds + 60)
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"wrk gave no summary for {peer.name} {script}: {result.stdout} {result.stderr}")


def build_release():
    subprocess.run(["swift", "build", "-c", "release", "--product", "trainyard"], cwd=ROOT, check=True,
                   stdout=sys.stderr)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    return pathlib.Path(path) / "trainyard"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke setting for CI: tiny durations")
    parser.add_argument("--seconds", type=float, default=5, help="wrk duration per measurement")
    parser.add_argument("--connections", default="1,16,64,256")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per measurement")
    parser.add_argument("--seed-jobs", type=int, default=1000)
    parser.add_argument("--operations", default="describe,list,list-name-contains,create")
    parser.add_argument("--binary", help="trainyard binary (default: build the release product)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--trainyard-args", default="", help="extra `trainyard serve` options, e.g. '--http-threads 1'")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.connections, args.rounds, args.seed_jobs = 1, "4", 1, 120
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not shutil.which("moto_server"):
        raise SystemExit("moto_server is not installed (pip install 'moto[server]')")

    binary = pathlib.Path(args.binary) if args.binary else build_release()
    work = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-bench-"))
    # A long simulated phase keeps created jobs waiting in Starting, so the measurement is the API's.
    trainyard = Peer("trainyard", [str(binary), "serve", "--runtime", "simulated", "--port", "0", "--data-dir",
                                   str(work / "data"), "--simulated-phase-seconds", "3600", "--log-level", "warning",
                                   *args.trainyard_args.split()],
                     0, "/health")
    trainyard.port = free_port()
    trainyard.args[trainyard.args.index("--port") + 1] = str(trainyard.port)
    moto_port = free_port()
    moto = Peer("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_port, "/moto-api/")
    peers = [trainyard, moto]
    results = []
    try:
        for peer in peers:
            peer.start(work)
            for index in range(args.seed_jobs):
                sagemaker_call(peer.endpoint, "CreateTrainingJob", job_body(f"{SEED_PREFIX}{index}"))
        connections = [int(c) for c in args.connections.split(",")]
        operations = {
            "describe": ("DescribeTrainingJob", "describe.lua", {"BENCH_JOB": f"{SEED_PREFIX}0"}),
            "list": ("ListTrainingJobs(100)", "list.lua", {}),
            "list-name-contains": ("ListTrainingJobs(100, NameContains)", "list.lua", {"BENCH_NAME_CONTAINS": "seed-1"}),
            "create": ("CreateTrainingJob", "create.lua", {}),
        }
        for key in args.operations.split(","):
            label, script, env = operations[key]
            for conns in connections:
                samples = {peer.name: [] for peer in peers}
                for round_index in range(args.rounds):
                    for peer in (peers if round_index % 2 == 0 else list(reversed(peers))):
                        run_env = dict(env, BENCH_RUN=f"{peer.name[0]}{round_index}{conns}{int(time.time())}")
                        samples[peer.name].append(run_wrk(peer, script, conns, args.seconds, run_env))
                row = {"operation": label, "connections": conns}
                for name, runs in samples.items():
                    row[name] = {
                        "rps": statistics.median(r["rps"] for r in runs),
                        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                        "errors": sum(r["errors"] for r in runs),
                    }
                row["ratio"] = row["trainyard"]["rps"] / max(row["moto"]["rps"], 1e-9)
                results.append(row)
                print(format_row(row), flush=True)
        rss = {peer.name: peer.rss_mib() for peer in peers}
        print(f"RSS after the run: trainyard {rss['trainyard']:.1f} MiB, moto {rss['moto']:.1f} MiB")
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps({"results": results, "rss_mib": rss}, indent=2))
        bad = [r for r in results if r["trainyard"]["errors"]]
        if bad:
            raise SystemExit(f"trainyard answered errors in {len(bad)} measurements")
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(work, ignore_errors=True)


def format_row(row):
    t, m = row["trainyard"], row["moto"]
    return (f"{row['operation']:<38} c={row['connections']:<4} "
            f"trainyard {t['rps']:>9.0f} req/s p50 {t['p50_ms']:>7.2f} ms p99 {t['p99_ms']:>7.2f} ms | "
            f"moto {m['rps']:>7.0f} req/s p50 {m['p50_ms']:>8.2f} ms p99 {m['p99_ms']:>8.2f} ms | "
            f"ratio {row['ratio']:>6.1f}x")


if __name__ == "__main__":
    main()
