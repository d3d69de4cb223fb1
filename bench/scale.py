#!/usr/bin/env python3
"""Trainyard at scale (README: Benchmarks): RSS, database bytes per job, and ListTrainingJobs
latency with 10k and 100k jobs stored.

Jobs are created through the API (the release build, simulated runtime with day-long phases, so
they stay stored as InProgress jobs and the measurement is of the API and the store, not of job
execution), then ListTrainingJobs(MaxResults=100) and DescribeTrainingJob are driven with wrk at
64 connections. Bounded in count and time;
everything on 127.0.0.1.

    bench/scale.py                     # 10k then 100k jobs (several minutes)
    bench/scale.py --sizes 2000        # a quick look
"""
import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402
from run import Peer, build_release, free_port, run_wrk  # noqa: E402


def create_jobs(endpoint, start, count, threads=8):
    """Creates jobs bench-<start>..bench-<start+count-1> (bench/run.py's create loop)."""
    run.create_jobs(endpoint, (f"bench-{index}" for index in range(start, start + count)), threads)


def scrape(endpoint):
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--binary")
    parser.add_argument("--json")
    args = parser.parse_args()
    binary = pathlib.Path(args.binary) if args.binary else build_release()
    work = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-scale-"))
    port = free_port()
    server = Peer("trainyard", [str(binary), "serve", "--runtime", "simulated", "--port", str(port), "--data-dir",
                                str(work / "data"), "--simulated-phase-seconds", "86400", "--log-level", "warning"],
                  port, "/health")
    rows = []
    try:
        server.start(work)
        created = 0
        for size in [int(s) for s in args.sizes.split(",")]:
            started = time.time()
            create_jobs(server.endpoint, created, size - created)
            create_seconds = time.time() - started
            created = size
            time.sleep(5)  # let the scheduler's first look at the new jobs settle
            samples = scrape(server.endpoint)
            stored = sum(v for k, v in samples.items() if k.startswith("trainyard_jobs{"))
            if stored != size:
                raise SystemExit(f"{stored} jobs stored, expected {size}")
            store_bytes = samples["trainyard_store_bytes"]
            data_bytes = sum(f.stat().st_size for f in (work / "data").glob("trainyard.sqlite*"))
            plain = run_wrk(server, "list.lua", 64, args.seconds, {})
            contains = run_wrk(server, "list.lua", 64, args.seconds, {"BENCH_NAME_CONTAINS": "ch-9999"})
            describe = run_wrk(server, "describe.lua", 64, args.seconds, {"BENCH_JOB": "bench-0"})
            row = {
                "jobs": size, "create_seconds": round(create_seconds, 1),
                "rss_mib": round(server.rss_mib(), 1), "store_bytes_per_job": round(store_bytes / size),
                "files_bytes_per_job": round(data_bytes / size),
                "list100": plain, "list100_name_contains": contains, "describe": describe,
            }
            rows.append(row)
            print(f"{size:>7} jobs: RSS {row['rss_mib']} MiB, {row['store_bytes_per_job']} B/job in the database "
                  f"({row['files_bytes_per_job']} B/job with WAL), created in {create_seconds:.0f} s | "
                  f"List(100) {plain['rps']:.0f} req/s p50 {plain['p50_ms']:.2f} ms p99 {plain['p99_ms']:.2f} ms | "
                  f"List(100, NameContains) {contains['rps']:.0f} req/s p99 {contains['p99_ms']:.2f} ms | "
                  f"Describe {describe['rps']:.0f} req/s p99 {describe['p99_ms']:.2f} ms", flush=True)
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
