"""Images from a registry (issue 14): `--registry HOST:PORT`, ECR image URIs mapped onto it, a missing
image pulled during Downloading, and a failed pull as SageMaker's ClientError.

The registry is Debian's docker-registry, started here on a free loopback port with
scripts/registry.sh (the engine trusts 127.0.0.0/8 as an insecure registry by default) and stopped
at the end, with every image this module made.
"""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import (ACCOUNT, BINARY, ROOT, TEST_IMAGE, containers_for_job, docker, job_request, wait_for,
                      wait_for_status)

REGISTRY_SCRIPT = ROOT / "scripts" / "registry.sh"
ECR = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
REPOSITORY = "train/busybox"
PULL_MESSAGE = "ClientError: Cannot pull algorithm container. Either the image does not exist or its permissions are incorrect."


def free_loopback_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def image_present(reference):
    return docker("image", "inspect", reference, check=False).returncode == 0


def algorithm(image):
    return {"TrainingImage": image, "TrainingInputMode": "File"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, docker_engine):
    """A running registry holding `<address>/train/busybox:1`: the test image plus a layer of its own
    (so that a pull really downloads a layer), removed from the engine again after the push."""
    if subprocess.run(["sh", "-c", "command -v docker-registry"], capture_output=True).returncode != 0:
        message = "docker-registry is not installed (scripts/install-deps.sh --test)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_loopback_port()}"
    started = subprocess.run(["bash", str(REGISTRY_SCRIPT), "start", address, str(folder / "registry")],
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    token = os.urandom(4).hex()
    context = folder / "image"
    context.mkdir()
    (context / "token").write_text(token + "\n")
    (context / "Dockerfile").write_text(f"FROM {TEST_IMAGE}\nCOPY token /registry-token\n")
    pushed = f"{address}/{REPOSITORY}:1"
    made = [pushed]
    try:
        docker("build", "-q", "-t", pushed, str(context), timeout=120)
        docker("push", pushed, timeout=120)
        docker("rmi", pushed)
        assert not image_present(pushed)
        yield {"address": address, "pushed": pushed, "token": token, "made": made}
    finally:
        for reference in made:
            docker("rmi", "-f", reference, check=False)
        subprocess.run(["bash", str(REGISTRY_SCRIPT), "stop", address, str(folder / "registry")],
                       capture_output=True, timeout=30)


def test_an_ecr_uri_is_pulled_from_the_registry_and_the_job_completes(registry, docker_server_factory, docker_jobs):
    server = docker_server_factory(extra_args=["--registry", registry["address"]])
    sm = server.client()
    name = docker_jobs.name("pulled")
    ecr_uri = f"{ECR}/{REPOSITORY}:1"
    assert not image_present(registry["pushed"])

    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(ecr_uri)))
    job = wait_for_status(sm, name, timeout=120)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    # The job keeps the name the user gave; the engine now has the registry's image.
    assert job["AlgorithmSpecification"]["TrainingImage"] == ecr_uri
    assert image_present(registry["pushed"])
    assert not image_present(ecr_uri)
    transitions = job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    # SageMaker's Downloading ends on "Downloading the training image" when it pulls.
    assert transitions[1]["StatusMessage"] == "Downloading the training image"
    # The container ran the pulled image (its own layer), not the local test image.
    run = docker("run", "--rm", "--entrypoint", "/bin/cat", registry["pushed"], "/registry-token")
    assert run.stdout.strip() == registry["token"]


def test_a_missing_tag_fails_the_job_with_a_client_error(registry, docker_server_factory, docker_jobs):
    server = docker_server_factory(extra_args=["--registry", registry["address"]])
    sm = server.client()
    name = docker_jobs.name("missing-tag")
    ecr_uri = f"{ECR}/{REPOSITORY}:no-such-tag"

    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(ecr_uri)))
    job = wait_for_status(sm, name, timeout=60)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Downloading", "Failed"]
    reason = job["FailureReason"]
    assert reason.startswith(PULL_MESSAGE), reason
    assert ecr_uri in reason
    assert f"{registry['address']}/{REPOSITORY}:no-such-tag" in reason
    # The registry's own words (distribution: "manifest unknown").
    assert "manifest unknown" in reason
    assert job["AlgorithmSpecification"]["TrainingImage"] == ecr_uri
    assert containers_for_job(name) == []


def test_an_unreachable_registry_fails_the_job_with_its_error(docker_engine, docker_server_factory, docker_jobs):
    address = f"127.0.0.1:{free_loopback_port()}"  # nothing listens there
    server = docker_server_factory(extra_args=["--registry", address])
    sm = server.client()
    name = docker_jobs.name("no-registry")

    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(f"{ECR}/{REPOSITORY}:1")))
    job = wait_for_status(sm, name, timeout=60)

    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(PULL_MESSAGE), reason
    assert address in reason and "connection refused" in reason


@pytest.fixture
def silent_registry():
    """A loopback port that accepts connections and never answers: a pull from it hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    listener.close()
    for connection in held:
        connection.close()


def test_a_job_stopped_while_its_image_downloads_stops_without_waiting_for_the_pull(
        silent_registry, docker_server_factory, docker_jobs):
    server = docker_server_factory(extra_args=["--registry", silent_registry])
    sm = server.client()
    name = docker_jobs.name("stop-pull")
    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(f"{ECR}/{REPOSITORY}:hangs")))

    def downloading_image():
        transitions = sm.describe_training_job(TrainingJobName=name)["SecondaryStatusTransitions"]
        return transitions[-1]["StatusMessage"] == "Downloading the training image"
    wait_for(downloading_image, timeout=30, message="Downloading the training image")
    asked = time.monotonic()
    sm.stop_training_job(TrainingJobName=name)
    job = wait_for_status(sm, name, statuses=("Stopped", "Failed", "Completed"), timeout=30)
    took = time.monotonic() - asked

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped"), job.get("FailureReason")
    # The registry never answers, so only the stop can have ended the pull (checked every 0.5 s).
    assert took < 10, f"stopped {took:.1f}s after StopTrainingJob"
    assert containers_for_job(name) == []


def test_without_registry_an_ecr_uri_that_is_not_local_fails(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("ecr-absent")
    ecr_uri = f"{ECR}/trainyard-registry-test/absent:1"

    sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(ecr_uri)))
    job = wait_for_status(sm, name, timeout=60)

    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(PULL_MESSAGE), reason
    # Pulled as named (no --registry: no mapping), so the reason names the ECR URI only.
    assert f"The training image {ecr_uri} could not be pulled" in reason
    assert containers_for_job(name) == []


def test_without_registry_a_local_image_tagged_with_its_ecr_name_runs(docker_server, docker_jobs):
    ecr_uri = f"{ECR}/trainyard-registry-test/local:{docker_jobs.token}"
    docker("tag", TEST_IMAGE, ecr_uri)
    try:
        sm = docker_server.client()
        name = docker_jobs.name("ecr-local")
        sm.create_training_job(**job_request(name, AlgorithmSpecification=algorithm(ecr_uri)))
        job = wait_for_status(sm, name, timeout=60)
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
        # Nothing was pulled: Downloading kept its data message.
        assert job["SecondaryStatusTransitions"][1]["StatusMessage"] == "Downloading input data"
    finally:
        docker("rmi", ecr_uri, check=False)


@pytest.mark.parametrize("value", ["http://127.0.0.1:5000", "127.0.0.1:5000/v2", "host:port", ""])
def test_a_bad_registry_option_stops_the_server_with_one_line(tmp_path, value):
    result = subprocess.run([BINARY, "serve", "--port", "0", "--data-dir", str(tmp_path), "--registry", value],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--registry" in result.stderr
