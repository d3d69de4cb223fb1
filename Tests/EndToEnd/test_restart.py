"""Durability: jobs survive a graceful restart and a SIGKILL; the server refuses to start on a port
in use, an unwritable data directory or a database from a newer Trainyard."""
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request

import botocore.exceptions

from conftest import (BINARY, FAST_ARGS, TrainyardServer, all_job_names, job_request, wait_for, wait_for_secondary,
                      wait_for_status)


def describe(sm, name):
    job = sm.describe_training_job(TrainingJobName=name)
    job.pop("ResponseMetadata")
    return job


def assert_contiguous(job):
    transitions = job["SecondaryStatusTransitions"]
    assert transitions[0]["StartTime"] == job["CreationTime"]
    for current, following in zip(transitions, transitions[1:]):
        assert current["EndTime"] == following["StartTime"]
    assert transitions[-1]["StartTime"] == transitions[-1]["EndTime"]


def test_graceful_restart_keeps_every_job(server_factory):
    server = server_factory(extra_args=FAST_ARGS)
    sm = server.client()
    sm.create_training_job(**job_request("r-done", Tags=[{"Key": "team", "Value": "ml"}],
                                         HyperParameters={"epochs": "3"}))
    sm.create_training_job(**job_request("r-failed", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "3",
                                                                  "TRAINYARD_SIMULATE_FAILURE": "bad data"}))
    sm.create_training_job(**job_request("r-stopped", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"}))
    sm.create_training_job(**job_request("r-running", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "4"}))
    wait_for_secondary(sm, "r-stopped", "Training")
    sm.stop_training_job(TrainingJobName="r-stopped")
    sm.update_training_job(TrainingJobName="r-done", ResourceConfig={"KeepAlivePeriodInSeconds": 120})
    finished = {name: wait_for_status(sm, name) for name in ("r-done", "r-failed", "r-stopped")}
    assert [finished[n]["TrainingJobStatus"] for n in ("r-done", "r-failed", "r-stopped")] == [
        "Completed", "Failed", "Stopped"]
    running = wait_for_secondary(sm, "r-running", "Training")
    before = {name: describe(sm, name) for name in finished}
    tags_before = sm.list_tags(ResourceArn=before["r-done"]["TrainingJobArn"])["Tags"]
    page = sm.list_training_jobs(MaxResults=2, SortBy="Name")
    listed_before = all_job_names(sm, SortBy="Name")

    server.stop()
    assert server.process.returncode == 0, "SIGTERM is a clean shutdown"
    assert "r-running" in listed_before
    server.start()
    restarted_at = time.time()
    sm = server.client()

    for name, job in before.items():
        assert describe(sm, name) == job, name
    assert sm.list_tags(ResourceArn=before["r-done"]["TrainingJobArn"])["Tags"] == tags_before == [
        {"Key": "team", "Value": "ml"}]
    assert all_job_names(sm, SortBy="Name") == listed_before
    # A NextToken issued before the restart still continues the listing.
    rest = sm.list_training_jobs(MaxResults=2, SortBy="Name", NextToken=page["NextToken"])
    assert [s["TrainingJobName"] for s in page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]] == \
        listed_before[:4]

    resumed = describe(sm, "r-running")
    assert resumed["CreationTime"] == running["CreationTime"]
    assert resumed["TrainingJobStatus"] in ("InProgress", "Completed")
    done = wait_for_status(sm, "r-running", timeout=20)
    assert (done["TrainingJobStatus"], done["SecondaryStatus"]) == ("Completed", "Completed")
    assert [t["Status"] for t in done["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert_contiguous(done)
    training = done["SecondaryStatusTransitions"][2]
    assert training["StartTime"] == running["SecondaryStatusTransitions"][2]["StartTime"]
    assert 3.5 <= (training["EndTime"] - training["StartTime"]).total_seconds() < 9
    # The container was adopted, not started again: its 4 s count from before the restart.
    assert training["EndTime"].timestamp() < restarted_at + 4


def test_sigkill_loses_no_acknowledged_create(server_factory):
    server = server_factory(extra_args=FAST_ARGS)
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def creator(worker):
        sm = server.client()
        for index in range(40):
            if stop.is_set():
                return
            name = f"burst-{worker}-{index}"
            try:
                sm.create_training_job(**job_request(name))
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return
            with lock:
                acknowledged.append(name)

    threads = [threading.Thread(target=creator, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 40, timeout=30, interval=0.005, message="40 acknowledged creates")
    server.process.send_signal(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    server.process.wait(timeout=10)
    assert server.process.returncode == -signal.SIGKILL
    with lock:
        acked = list(acknowledged)

    server.stop()
    server.start()
    sm = server.client()
    stored = set(all_job_names(sm))
    missing = [name for name in acked if name not in stored]
    assert not missing, f"acknowledged creates lost by SIGKILL: {missing}"
    # Every job, interrupted at whatever step, runs to completion after the restart.
    def all_done():
        statuses = [s["TrainingJobStatus"] for page in sm.get_paginator("list_training_jobs").paginate(
            PaginationConfig={"PageSize": 100}) for s in page["TrainingJobSummaries"]]
        return statuses if all(status == "Completed" for status in statuses) else None
    statuses = wait_for(all_done, timeout=60, interval=0.2, message="every recovered job to complete")
    assert len(statuses) == len(stored) >= 40
    for name in acked[:5] + acked[-5:]:
        assert_contiguous(describe(sm, name))


def run_refused(args, timeout=30):
    result = subprocess.run([BINARY, "serve", "--runtime", "simulated", "--host", "127.0.0.1"] + args,
                            capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


def test_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, lines = run_refused(["--port", str(port), "--data-dir", str(tmp_path / "data")])
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "listening" not in result.stdout


def test_refuses_an_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / "data"
    result, lines = run_refused(["--port", "0", "--data-dir", str(data_dir)])
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert str(data_dir) in lines[0] and "writable" in lines[0]
    assert "Not a directory" in lines[0], "the line says why"
    assert blocker.read_text() == "not a directory"


def test_refuses_a_database_from_a_newer_trainyard(tmp_path):
    data_dir = tmp_path / "data"
    server = TrainyardServer(data_dir, extra_args=FAST_ARGS).start()
    server.client().create_training_job(**job_request("kept"))
    server.stop()
    database = data_dir / "trainyard.sqlite"
    with sqlite3.connect(database) as connection:
        current = connection.execute("PRAGMA user_version").fetchone()[0]
        assert current >= 1
        connection.execute(f"PRAGMA user_version = {current + 1}")
    result, lines = run_refused(["--port", "0", "--data-dir", str(data_dir)])
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert "newer" in lines[0] and str(current + 1) in lines[0]
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == current + 1
        assert connection.execute("SELECT name FROM training_jobs").fetchall() == [("kept",)]


def test_start_up_configuration_errors_exit_non_zero(tmp_path):
    for args in (["--runtime", "nothing"], ["--port", "70000"], ["--account-id", "123"],
                 ["--stop-grace-seconds", "-1"], ["--log-level", "loud"], ["--max-body-bytes", "lots"]):
        runtime = [] if "--runtime" in args else ["--runtime", "simulated"]
        result = subprocess.run([BINARY, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"] + runtime + args,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0, args
        assert result.stderr.strip(), args
        assert "listening" not in result.stdout


def test_stop_deadlines_survive_a_sigkill(server_factory):
    """A stop in its grace window, and a MaxRuntimeInSeconds deadline, are kept across a crash."""
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.2", "--stop-grace-seconds", "2"])
    sm = server.client()
    sm.create_training_job(**job_request("grace", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                               "TRAINYARD_SIMULATE_IGNORE_SIGTERM": "true"}))
    sm.create_training_job(**job_request("deadline", StoppingCondition={"MaxRuntimeInSeconds": 2},
                                         Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"}))
    wait_for_secondary(sm, "grace", "Training")
    sm.stop_training_job(TrainingJobName="grace")
    wait_for(lambda: "SIGTERM sent" in server.log_path.read_text(), timeout=5, message="SIGTERM to be sent")
    server.kill()
    server.start()
    sm = server.client()
    grace = wait_for_status(sm, "grace", timeout=15)
    deadline = wait_for_status(sm, "deadline", timeout=15)
    assert (grace["TrainingJobStatus"], grace["SecondaryStatus"]) == ("Stopped", "Stopped")
    stopping, stopped = grace["SecondaryStatusTransitions"][-2:]
    assert 1.999 <= (stopped["StartTime"] - stopping["StartTime"]).total_seconds() < 5
    assert (deadline["TrainingJobStatus"], deadline["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    stopping = deadline["SecondaryStatusTransitions"][-2]
    assert 1.999 <= (stopping["StartTime"] - deadline["TrainingStartTime"]).total_seconds() < 4


def test_bad_option_variable_is_refused(tmp_path):
    env = dict(os.environ, TRAINYARD_STOP_GRACE_SECONDS="soon")
    result = subprocess.run([BINARY, "serve", "--runtime", "simulated", "--port", "0", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode != 0
    assert "TRAINYARD_STOP_GRACE_SECONDS" in result.stderr
    assert "listening" not in result.stdout


def test_port_zero_picks_a_free_port_and_prints_it(tmp_path):
    process = subprocess.Popen([BINARY, "serve", "--runtime", "simulated", "--port", "0", "--data-dir",
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no start-up line within 20 s"
        line = process.stdout.readline()
        match = re.fullmatch(r"trainyard listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        port = int(match.group(1))
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
