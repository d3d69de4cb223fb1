"""Docker runtime, end to end: the server dies (kill -9) or stops (SIGTERM) with jobs in flight.

Recovery is just reconcile (DESIGN §5): a restarted server on the same data directory adopts the
containers that still run (never starting them again), recomputes MaxRuntimeInSeconds and grace
deadlines from stored timestamps, finishes jobs whose container exited while it was down, and
leaves no job InProgress and no container behind.
"""
import time

from conftest import (TEST_IMAGE, behaviour, container_output, containers_for_job, docker, file_channel,
                      inspect_job_container, job_output_dir, job_request, read_tarball, transition_times,
                      wait_for, wait_for_status, wait_until_ready)


# The engine's clock and the server's may differ by the latency of one engine call: a lower bound
# measured between two engine events gets this much slack.
ENGINE_SLACK = 0.25


def secondary(sm, name):
    return sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"]


def identity(name):
    """(container id, State.StartedAt): both change if a container is re-created or restarted."""
    state = inspect_job_container(name)
    assert state is not None, f"job {name} has no container"
    return state["Id"], state["State"]["StartedAt"]


def assert_clean(server, names):
    """No job left active, no container of these jobs left behind."""
    sm = server.client()
    for name in names:
        assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
        assert containers_for_job(name) == [], f"{name}'s container was left behind"
    active = [job["TrainingJobName"] for status in ("InProgress", "Stopping")
              for job in sm.list_training_jobs(StatusEquals=status)["TrainingJobSummaries"]]
    assert active == []


def test_kill_during_downloading_restages_and_runs_once(docker_server, docker_jobs, many_files):
    # 20,000 small files take a second or two to stage: long enough to be caught Downloading.
    sm = docker_server.client()
    name = docker_jobs.name("recover-downloading")
    count = "find /opt/ml/input/data/train -type f | wc -l > /opt/ml/model/count.txt"
    sm.create_training_job(**job_request(
        name, InputDataConfig=[file_channel("train", many_files)],
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["/bin/sh", "-c", count]}))
    wait_for(lambda: secondary(sm, name) == "Downloading", interval=0.01, message="Downloading")

    docker_server.kill()
    # Killed before the container was made: the restarted server has to stage the data again.
    assert containers_for_job(name) == []
    docker_server.start()

    job = wait_for_status(sm, name, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    # Every file, once: the interrupted copy was started again from a clean folder.
    assert read_tarball(job_output_dir(docker_server, name) / "model.tar.gz") == {"count.txt": b"20000\n"}
    assert_clean(docker_server, [name])


def test_kill_during_training_adopts_the_container_and_keeps_the_deadline(docker_server, docker_jobs, container_events):
    sm = docker_server.client()
    name = docker_jobs.name("recover-training")
    max_runtime = 5
    sm.create_training_job(**job_request(
        name, Environment=behaviour("trap-term"), StoppingCondition={"MaxRuntimeInSeconds": max_runtime}))
    wait_until_ready(sm, name)
    events = container_events(name)

    docker_server.kill()
    # Down for a while (deliberately): a deadline counted from the restart would come this much later.
    time.sleep(2)
    restarted = time.time()
    docker_server.start()

    job = wait_for_status(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    # Adopted, not re-created or restarted: the engine saw no second create or start.
    assert "create" not in events.actions() and "start" not in events.actions(), events.actions()
    # The deadline counts from the stored TrainingStartTime, not from the restart.
    stopped_after = transition_times(job)["Stopping"] - job["TrainingStartTime"].timestamp()
    assert max_runtime <= stopped_after < max_runtime + 30, f"MaxRuntimeExceeded after {stopped_after:.2f}s"
    assert transition_times(job)["Stopping"] < restarted + max_runtime - 1, (
        f"Stopping {transition_times(job)['Stopping'] - restarted:.2f}s after the restart: the deadline restarted too")
    assert read_tarball(job_output_dir(docker_server, name) / "model.tar.gz") == {"saved-on-sigterm": b"saved\n"}
    assert_clean(docker_server, [name])


def test_containers_that_exit_while_the_server_is_down_are_finished(docker_server, docker_jobs):
    sm = docker_server.client()
    failing = docker_jobs.name("down-fails")
    completing = docker_jobs.name("down-completes")
    sm.create_training_job(**job_request(failing, Environment=behaviour(
        "fail-with-file", TRAINYARD_TEST_DELAY_SECONDS=1, TRAINYARD_TEST_FAILURE_TEXT="CUDA error: out of patience")))
    sm.create_training_job(**job_request(
        completing, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=1),
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]}))
    for name in (failing, completing):
        wait_for(lambda: secondary(sm, name) == "Training", message=f"{name} Training")

    docker_server.kill()
    for name in (failing, completing):
        wait_for(lambda: not inspect_job_container(name)["State"]["Running"], timeout=20,
                 message=f"{name}'s container to exit")
    docker_server.start()

    failed = wait_for_status(sm, failing, timeout=30)
    assert (failed["TrainingJobStatus"], failed["SecondaryStatus"]) == ("Failed", "Failed")
    assert failed["FailureReason"] == "AlgorithmError: CUDA error: out of patience"
    assert read_tarball(job_output_dir(docker_server, failing) / "model.tar.gz") == {"partial.txt": b"partial model\n"}
    completed = wait_for_status(sm, completing, timeout=30)
    assert (completed["TrainingJobStatus"], completed["SecondaryStatus"]) == ("Completed", "Completed")
    assert read_tarball(job_output_dir(docker_server, completing) / "model.tar.gz") == {"model.txt": b"trained model\n"}
    assert [(m["MetricName"], m["Value"]) for m in completed["FinalMetricDataList"]] == [("loss", 0.5)]
    assert_clean(docker_server, [failing, completing])


def test_kill_during_stopping_keeps_the_grace_window_of_the_stored_sigterm(docker_server_factory, docker_jobs,
                                                                          container_events):
    grace = 6
    server = docker_server_factory(grace=grace)
    sm = server.client()
    name = docker_jobs.name("recover-stopping")
    sm.create_training_job(**job_request(name, Environment=behaviour("ignore-term")))
    wait_until_ready(sm, name)
    events = container_events(name)
    sm.stop_training_job(TrainingJobName=name)
    sigterm = events.wait_for_kill(15)

    server.kill()
    # Down for a while (deliberately): a window counted from the restart would end this much later.
    time.sleep(3)
    restarted = time.time()
    server.start()
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"

    job = wait_for_status(sm, name, timeout=grace + 30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert events.wait_for_exit() == 137
    kills = events.kills()
    assert [number for number, _ in kills] == [15, 9], f"SIGTERM once, then SIGKILL: {kills}"
    assert "create" not in events.actions() and "start" not in events.actions(), "adopted, not re-created"
    killed_after = kills[1][1] - sigterm
    assert grace - ENGINE_SLACK <= killed_after < grace + 30, f"SIGKILL {killed_after:.2f}s after SIGTERM"
    # At stop + grace, not restart + grace (which would be 3 s or more later).
    assert kills[1][1] < restarted + grace - 1, f"SIGKILL {kills[1][1] - restarted:.2f}s after the restart"
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"sigterm-ignored": b"ignored SIGTERM\n"}
    assert_clean(server, [name])


def test_grace_window_that_ended_while_the_server_was_down_kills_at_once(docker_server_factory, docker_jobs,
                                                                         container_events):
    # A window long enough that "at once" and "after another window" are far apart on a slow machine.
    grace = 5
    docker_server = docker_server_factory(grace=grace)
    sm = docker_server.client()
    name = docker_jobs.name("recover-late-kill")
    sm.create_training_job(**job_request(name, Environment=behaviour("ignore-term")))
    wait_until_ready(sm, name)
    events = container_events(name)
    sm.stop_training_job(TrainingJobName=name)
    sigterm = events.wait_for_kill(15)

    docker_server.kill()
    # Down until the window is over (deliberately).
    time.sleep(max(0.0, sigterm + grace + 1 - time.time()))
    assert inspect_job_container(name)["State"]["Running"]
    restarted = time.time()
    docker_server.start()

    job = wait_for_status(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    killed = events.wait_for_kill(9)
    # At once: well before a fresh window would have ended.
    assert killed - restarted < grace, f"SIGKILL came {killed - restarted:.2f}s after the restart; the window was over"
    assert_clean(docker_server, [name])


def test_kill_during_uploading_finishes_the_upload(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("recover-uploading")
    # 64 MiB of random bytes: packing model.tar.gz takes more than a second here.
    sm.create_training_job(**job_request(name, Environment=behaviour("big-model", TRAINYARD_TEST_MODEL_MB=64)))
    wait_for(lambda: secondary(sm, name) == "Uploading", timeout=60, interval=0.01, message="Uploading")

    docker_server.kill()
    docker_server.start()

    job = wait_for_status(sm, name, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    out = job_output_dir(docker_server, name)
    model = read_tarball(out / "model.tar.gz")
    assert list(model) == ["weights.bin"] and len(model["weights.bin"]) == 64 << 20
    # Only the two artifacts: no half-written leftovers of the interrupted upload.
    wait_for(lambda: sorted(p.name for p in out.iterdir()) == ["model.tar.gz", "output.tar.gz"], timeout=10,
             message=f"only the two artifacts in {out}")
    assert_clean(docker_server, [name])


def test_default_grace_window_is_120_seconds(docker_server_factory, docker_jobs, container_events):
    server = docker_server_factory(grace=None)
    sm = server.client()
    name = docker_jobs.name("default-grace")
    sm.create_training_job(**job_request(name, Environment=behaviour("ignore-term")))
    wait_until_ready(sm, name)
    events = container_events(name)
    sm.stop_training_job(TrainingJobName=name)
    events.wait_for_kill(15)
    # An absence can only be shown by waiting: 4 s is twice the short windows the other tests use.
    time.sleep(4)

    job = sm.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopping", "Stopping")
    assert [number for number, _ in events.kills()] == [15], "no SIGKILL inside the 120 s window"
    assert inspect_job_container(name)["State"]["Running"]
    assert "ignoring SIGTERM" in container_output(name)
    assert "stop.grace=120.0 seconds" in server.log_path.read_text()
    # Don't wait two minutes: stop the server, then the container (the fixture removes it too).
    server.stop()
    container = containers_for_job(name)
    assert len(container) == 1
    docker("rm", "-f", *container)


def test_server_sigterm_leaves_jobs_running_for_the_next_start(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("server-sigterm")
    sm.create_training_job(**job_request(name, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=3)))
    wait_for(lambda: secondary(sm, name) == "Training", message="Training")
    before = identity(name)

    docker_server.stop()  # SIGTERM: a graceful shutdown of the server, not of its jobs
    assert docker_server.process.returncode == 0
    state = inspect_job_container(name)
    assert state["State"]["Running"], "stopping the server must not stop training"
    assert (state["Id"], state["State"]["StartedAt"]) == before

    docker_server.start()
    assert identity(name) == before
    job = wait_for_status(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert read_tarball(job_output_dir(docker_server, name) / "model.tar.gz") == {"model.txt": b"trained model\n"}
    assert_clean(docker_server, [name])
