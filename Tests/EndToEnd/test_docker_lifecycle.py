"""Docker runtime, end to end: real containers of the test image driven through boto3.

How jobs end (DESIGN §3, sagemaker-semantics §2): Completed with artifacts and metrics, Failed with
SageMaker's FailureReason texts, a graceful stop (SIGTERM, SIGKILL only after the grace window),
MaxRuntimeInSeconds, and a missing image.
"""
import subprocess
import time

from conftest import (TEST_IMAGE, behaviour, containers_for_job, file_channel, inspect_job_container, job_output_dir,
                      job_request, read_tarball, tarball_names, transition_times, wait_for,
                      wait_for_status, wait_until_ready)


def algorithm(**extra):
    return {"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File", **extra}


def test_completes_with_artifacts_and_metrics(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("completes")
    sm.create_training_job(**job_request(
        name, AlgorithmSpecification=algorithm(MetricDefinitions=[
            {"Name": "train:loss", "Regex": "loss=([0-9.]+)"},
            {"Name": "never:seen", "Regex": "accuracy=([0-9.]+)"}])))

    job = wait_for_status(sm, name, timeout=60)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert "FailureReason" not in job
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    out = job_output_dir(docker_server, name)
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://bucket/output/{name}/output/model.tar.gz"
    # Entries are named as SageMaker names them: relative, no leading "./".
    assert tarball_names(out / "model.tar.gz") == ["model.txt"]
    assert tarball_names(out / "output.tar.gz") == ["output.txt"]
    assert read_tarball(out / "model.tar.gz") == {"model.txt": b"trained model\n"}
    assert read_tarball(out / "output.tar.gz") == {"output.txt": b"output data\n"}
    # The last value the regex matched (0.9, 0.7, 0.5); a metric never printed is absent.
    metrics = job["FinalMetricDataList"]
    assert [(m["MetricName"], m["Value"]) for m in metrics] == [("train:loss", 0.5)]
    assert containers_for_job(name) == [], "the finished job's container must be removed"


def test_failures_give_sagemaker_reasons_and_keep_artifacts(docker_server, docker_jobs):
    sm = docker_server.client()
    plain = docker_jobs.name("fails-exit")
    with_file = docker_jobs.name("fails-file")
    long_text = docker_jobs.name("fails-long")
    sm.create_training_job(**job_request(plain, Environment=behaviour("fail", TRAINYARD_TEST_EXIT_CODE=3)))
    sm.create_training_job(**job_request(with_file, Environment=behaviour(
        "fail-with-file", TRAINYARD_TEST_FAILURE_TEXT="ValueError: bad input\nline two")))
    sm.create_training_job(**job_request(long_text, Environment=behaviour(
        "fail-with-file", TRAINYARD_TEST_FAILURE_LENGTH=5000)))

    jobs = {name: wait_for_status(sm, name, timeout=60) for name in (plain, with_file, long_text)}

    for job in jobs.values():
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
        assert job["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Training job failed"
    assert jobs[plain]["FailureReason"] == "AlgorithmError: Exit Code: 3"
    assert jobs[with_file]["FailureReason"] == "AlgorithmError: ValueError: bad input\nline two"
    reason = jobs[long_text]["FailureReason"]
    assert len(reason) == 1024
    assert reason == ("AlgorithmError: " + "0123456789" * 500)[:1024]
    # Failed jobs still upload what the container wrote.
    for name in (with_file, long_text):
        out = job_output_dir(docker_server, name)
        assert read_tarball(out / "model.tar.gz") == {"partial.txt": b"partial model\n"}
        assert read_tarball(out / "output.tar.gz") == {"partial.txt": b"partial output\n"}
    assert (job_output_dir(docker_server, plain) / "model.tar.gz").exists()
    for name in jobs:
        assert containers_for_job(name) == []


# The engine's clock and the server's may differ by the latency of one engine call: a lower bound
# measured between two engine events gets this much slack.
ENGINE_SLACK = 0.25


def test_stop_of_a_job_that_traps_sigterm(docker_server_factory, docker_jobs, container_events):
    # A long grace window: the job must end on its own well before it, with no SIGKILL.
    grace = 10
    server = docker_server_factory(grace=grace)
    sm = server.client()
    name = docker_jobs.name("trap-term")
    sm.create_training_job(**job_request(name, Environment=behaviour("trap-term")))
    wait_until_ready(sm, name)
    events = container_events(name)

    started = time.time()
    sm.stop_training_job(TrainingJobName=name)
    job = sm.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopping", "Stopping")

    job = wait_for_status(sm, name, timeout=grace + 20)
    elapsed = time.time() - started
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "FailureReason" not in job
    assert elapsed < grace / 2, f"the job took {elapsed:.1f}s to stop; it exits on SIGTERM at once"
    # The file written in the SIGTERM handler is uploaded.
    model = read_tarball(job_output_dir(server, name) / "model.tar.gz")
    assert model == {"saved-on-sigterm": b"saved\n"}
    assert events.wait_for_exit() == 0
    assert [number for number, _ in events.kills()] == [15], "SIGTERM only: no SIGKILL for a container that exited on it"
    assert containers_for_job(name) == []


def test_stop_of_a_job_that_ignores_sigterm_kills_after_the_grace_window(docker_server, docker_jobs, container_events):
    grace = 2  # docker_server's --stop-grace-seconds
    sm = docker_server.client()
    name = docker_jobs.name("ignore-term")
    sm.create_training_job(**job_request(name, Environment=behaviour("ignore-term")))
    wait_until_ready(sm, name)
    # Follow the container's output from outside: the container is removed when the job ends.
    container = containers_for_job(name)[0]
    follower = subprocess.Popen(["docker", "logs", "-f", container], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    events = container_events(name)
    try:
        sm.stop_training_job(TrainingJobName=name)
        assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
        job = wait_for_status(sm, name, timeout=grace + 30)
        output, _ = follower.communicate(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    times = transition_times(job)
    waited = times["Stopped"] - times["Stopping"]
    # Not before the window ends (the property); the upper bound only catches a stop that hangs.
    assert grace <= waited < grace + 30, f"Stopping → Stopped took {waited:.2f}s; SIGKILL belongs at {grace}s"
    assert "ignoring SIGTERM" in output
    assert events.wait_for_exit() == 137
    kills = events.kills()
    assert [number for number, _ in kills] == [15, 9], kills
    killed_after = kills[1][1] - kills[0][1]
    assert grace - ENGINE_SLACK <= killed_after < grace + 30, f"SIGKILL went out {killed_after:.3f}s after SIGTERM"
    model = read_tarball(job_output_dir(docker_server, name) / "model.tar.gz")
    assert model == {"sigterm-ignored": b"ignored SIGTERM\n"}
    assert containers_for_job(name) == []


def test_max_runtime_exceeded(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("max-runtime")
    sm.create_training_job(**job_request(
        name, Environment=behaviour("sleep"), StoppingCondition={"MaxRuntimeInSeconds": 2}))

    job = wait_for_status(sm, name, timeout=30)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "FailureReason" not in job
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Stopping", "MaxRuntimeExceeded"]
    times = transition_times(job)
    ran = times["Stopping"] - job["TrainingStartTime"].timestamp()
    # Not before the limit (the property); the upper bound, with the measured value, only catches a hang.
    assert 2 <= ran < 2 + 30, f"stopped {ran:.2f}s after training started; MaxRuntimeInSeconds is 2"
    # `sleep` never handles SIGTERM (PID 1's default disposition ignores it): SIGKILL after the window.
    assert times["MaxRuntimeExceeded"] - times["Stopping"] >= 2
    out = job_output_dir(docker_server, name)
    assert tarball_names(out / "model.tar.gz") == []
    assert (out / "output.tar.gz").exists()
    assert containers_for_job(name) == []


def test_missing_image_fails_with_a_client_error(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("no-image")
    image = "trainyard-test/does-not-exist:1.0"
    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(TrainingImage=image)))

    job = wait_for_status(sm, name, timeout=30)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: ")
    assert image in reason
    assert "docker build" in reason and "docker load" in reason
    assert containers_for_job(name) == []


def test_stop_while_downloading_never_starts_the_container(docker_server_factory, docker_jobs, many_files,
                                                          container_events):
    # SageMaker stops a job that is still downloading its data without running the algorithm. A
    # container started anyway would run its entrypoint (which writes /opt/ml/model/ran at once)
    # and, as PID 1 ignores SIGTERM, hold the stop for the whole grace window.
    grace = 30
    server = docker_server_factory(grace=grace)
    sm = server.client()
    name = docker_jobs.name("stop-downloading")
    events = container_events(name)
    sm.create_training_job(**job_request(
        name, InputDataConfig=[file_channel("train", many_files)],
        AlgorithmSpecification=algorithm(ContainerEntrypoint=[
            "/bin/sh", "-c", "echo ran > /opt/ml/model/ran; exec sleep 3600"])))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Downloading",
             interval=0.01, message="Downloading")

    sm.stop_training_job(TrainingJobName=name)
    job = sm.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopping", "Stopping")
    # The stop interrupts staging (issue 12), so the job ends well before the window.
    job = wait_for_status(sm, name, timeout=grace - 5)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Downloading", "Stopping", "Stopped"]
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {}, "the training container ran"
    assert containers_for_job(name) == []
    assert "create" not in events.actions() and events.kills() == [], events.actions()


def test_a_large_download_does_not_hold_up_other_jobs(docker_server, docker_jobs, many_files):
    # Staging is file copying; it must not stall the scheduler, which drives every other job.
    sm = docker_server.client()
    big = docker_jobs.name("big-download")
    small = docker_jobs.name("small-job")
    sm.create_training_job(**job_request(big, InputDataConfig=[file_channel("train", many_files)]))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=big)["SecondaryStatus"] == "Downloading",
             interval=0.01, message="Downloading")
    sm.create_training_job(**job_request(small))

    small_job = wait_for_status(sm, small, timeout=60)
    big_job = wait_for_status(sm, big, timeout=60)
    assert small_job["TrainingJobStatus"] == "Completed"
    assert big_job["TrainingJobStatus"] == "Completed"
    big_training = transition_times(big_job)["Training"]
    small_done = transition_times(small_job)["Completed"]
    assert small_done < big_training, (
        f"the small job ended {small_done - big_training:.2f}s after the big one finished downloading")
