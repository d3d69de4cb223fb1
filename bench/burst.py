#!/usr/bin/env python3
"""Fixtures at the speed of Create (README: Benchmarks): a client creates N simulated jobs with
`--simulated-phase-seconds 0` and waits until every one is Completed.

Starts the release build (simulated runtime, no container starts) on loopback, creates the jobs
over a few keep-alive connections (raw HTTP, AWS JSON 1.1), and samples /metrics until the
Completed count reaches N. Reports creates/s (N over the time the creates took) and completed/s
(N over the time from the first create to the last completion): the budget is 2,000 jobs/s end to
end, and completed/s no lower than creates/s. Bounded in count and time; everything on 127.0.0.1.

    bench/burst.py                    # 10,000 jobs, 4 client threads
    bench/burst.py --jobs 2000        # a quick look
    bench/burst.py --binary .build/release/trainyard
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run import Peer, build_release, create_jobs, create_jobs_raw, free_port  # noqa: E402


def completed_count(endpoint):
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("trainyard_jobs{"):
            name, value = line.rsplit(" ", 1)
            status = name.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = counts.get(status, 0) + float(value)
    return counts


def cpu_seconds(pid):
    """User + system CPU the process has used (a measure that holds on a busy machine)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4, help="client connections")
    parser.add_argument("--client", choices=["raw", "http"], default="raw",
                        help="raw: pre-encoded requests from one process per connection (default; leaves the cores to "
                             "the server); http: http.client threads (one core at most, shared with the server)")
    parser.add_argument("--timeout", type=float, default=600, help="give up waiting for completions after this many seconds")
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = pathlib.Path(args.binary) if args.binary else build_release()
    work = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-burst-"))
    port = free_port()
    server = Peer("trainyard", [str(binary), "serve", "--runtime", "simulated", "--port", str(port), "--data-dir",
                                str(work / "data"), "--simulated-phase-seconds", "0", "--log-level", "warning"],
                  port, "/health")
    try:
        server.start(work)
        names = (f"burst-{index}" for index in range(args.jobs))
        if args.client == "raw":
            # The clock starts at the first send, after the client has encoded its requests.
            creating = create_jobs_raw(server.endpoint, names, args.threads)
            created_at = time.time()
            started = created_at - creating
        else:
            started = time.time()
            create_jobs(server.endpoint, names, args.threads)
            created_at = time.time()
        completed = 0
        deadline = created_at + args.timeout
        at_creates_done = completed_count(server.endpoint).get("Completed", 0)
        while time.time() < deadline:
            counts = completed_count(server.endpoint)
            completed = counts.get("Completed", 0)
            if completed >= args.jobs or counts.get("Failed", 0) or counts.get("Stopped", 0):
                break
            time.sleep(0.05)
        finished_at = time.time()
        cpu = cpu_seconds(server.process.pid)
        create_rate = args.jobs / (created_at - started)
        complete_rate = completed / (finished_at - started)
        print(f"{args.jobs} jobs, {args.threads} {args.client} client connections: creates {create_rate:.0f}/s "
              f"({created_at - started:.2f} s); completed {completed:.0f} in {finished_at - started:.2f} s from the "
              f"first create: {complete_rate:.0f}/s end to end ({at_creates_done:.0f} already Completed when the "
              f"last create returned); server CPU {cpu:.1f} s ({cpu / args.jobs * 1e6:.0f} µs a job, create to Completed); RSS "
              f"{server.rss_mib():.0f} MiB", flush=True)
        if completed < args.jobs:
            print(f"not all jobs completed: {completed_count(server.endpoint)}", flush=True)
            return 1
        return 0
    finally:
        server.stop()
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
