"""Crash safety, small setting (scripts/crash-test.py runs the long one for release checks): the
server is SIGKILLed at random points under load and restarted; nothing acknowledged is lost, every
job ends in the right state, no container is orphaned, and the database passes integrity_check."""
import json
import subprocess
import sys

from conftest import BINARY, ROOT


def run_crash_test(runtime, kills, jobs, seed, phase_seconds=0.3):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "crash-test.py"), "--runtime", runtime, "--kills", str(kills),
         "--jobs", str(jobs), "--seed", str(seed), "--binary", BINARY, "--timeout", "240",
         "--phase-seconds", str(phase_seconds)],
        capture_output=True, text=True, timeout=600)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return result, summary


def test_simulated_runtime_survives_repeated_sigkill():
    result, summary = run_crash_test("simulated", kills=4, jobs=30, seed=7)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["acknowledged"] == 30
    assert (summary["lost"], summary["stuck"], summary["wrongState"], summary["integrity"]) == (0, 0, 0, "ok")


def test_simulated_runtime_with_phases_of_no_time_survives_repeated_sigkill():
    """At phase 0 a job with nothing to download or upload is stored in two writes after its Create
    (Downloading with Training, its exit with its end): a kill between its container's start or
    exit and those writes must still end every job right."""
    result, summary = run_crash_test("simulated", kills=4, jobs=60, seed=5, phase_seconds=0)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["acknowledged"] == 60
    assert (summary["lost"], summary["stuck"], summary["wrongState"], summary["integrity"]) == (0, 0, 0, "ok")


def test_docker_runtime_survives_repeated_sigkill(docker_engine):
    result, summary = run_crash_test("docker", kills=3, jobs=18, seed=11)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["acknowledged"] == 18
    assert (summary["lost"], summary["stuck"], summary["wrongState"], summary["orphans"], summary["integrity"]) == (
        0, 0, 0, 0, "ok")
