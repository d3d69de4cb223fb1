"""GPU instance types (issue 13 item 7) against this machine's real engine, which has no NVIDIA
GPU runtime: `--gpus auto` (the default) fails a GPU job with a ClientError that says what to do,
`--gpus none` runs it on the CPU and says so in the job's log."""
import json

import pytest

from conftest import containers_for_job, docker, job_request, wait_for_status

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def engine_has_gpu_runtime():
    runtimes = json.loads(docker("info", "--format", "{{json .Runtimes}}").stdout or "{}")
    return "nvidia" in (runtimes or {})


def gpu_job(name, instance_type="ml.g5.xlarge"):
    return job_request(
        name,
        AlgorithmSpecification={"TrainingImage": "trainyard-test/busybox:latest", "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["/bin/sh", "-c", "echo trained on the cpu"]},
        ResourceConfig={"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30})


def log_lines(server, name):
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    assert [s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams] == ["algo-1"]
    events = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=streams[0]["logStreamName"], startFromHead=True)["events"]
    return [e["message"] for e in events]


def test_auto_without_a_gpu_runtime_fails_with_a_client_error(docker_server, docker_jobs):
    if engine_has_gpu_runtime():
        pytest.skip("this engine has an NVIDIA runtime: the job would get its GPU")
    sm = docker_server.client()
    name = docker_jobs.name("gpu-auto")
    sm.create_training_job(**gpu_job(name))
    job = wait_for_status(sm, name, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: The job's instance type has 1 GPU, but the container engine reports no NVIDIA GPU runtime.")
    assert "Install the NVIDIA Container Toolkit" in reason and "--gpus none" in reason
    # Refused before any container was made.
    assert containers_for_job(name) == []
    # A CPU instance type on the same server is not affected.
    cpu = docker_jobs.name("cpu-auto")
    sm.create_training_job(**gpu_job(cpu, instance_type="ml.m5.large"))
    assert wait_for_status(sm, cpu, timeout=60)["TrainingJobStatus"] == "Completed"


def test_none_runs_on_the_cpu_and_says_so_in_the_log(docker_server_factory, docker_jobs):
    server = docker_server_factory(extra_args=["--gpus", "none"])
    sm = server.client()
    name = docker_jobs.name("gpu-none")
    sm.create_training_job(**gpu_job(name))
    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    lines = log_lines(server, name)
    # The server's line first, then everything the container printed.
    assert lines == [
        "Trainyard: ml.g5.xlarge has 1 GPU, but this server runs with --gpus none: the job runs on the CPU, without GPUs.",
        "trained on the cpu"]
    # A CPU job gets no such line.
    cpu = docker_jobs.name("cpu-none")
    sm.create_training_job(**gpu_job(cpu, instance_type="ml.m5.large"))
    assert wait_for_status(sm, cpu, timeout=60)["TrainingJobStatus"] == "Completed"
    assert log_lines(server, cpu) == ["trained on the cpu"]


def test_gpus_option_is_validated(server_factory):
    import subprocess
    from conftest import BINARY
    result = subprocess.run([BINARY, "serve", "--gpus", "some"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--gpus" in result.stderr
