"""`--workspace-staging api`, end to end on the Docker runtime: the training container's /opt/ml comes
from named volumes filled and emptied by staging helpers through the server's own HTTP API
(WorkspaceStaging), with the container contract unchanged and no bind mount of the server's folders.
"""
import io
import json
import tarfile
import urllib.error
import urllib.request

import pytest

from conftest import TEST_IMAGE, docker, instance_id, job_request, stored_job, wait_for, wait_for_secondary, wait_for_status

API = ["--workspace-staging", "api"]


@pytest.fixture(autouse=True)
def remove_staging_volumes(docker_jobs):
    """A failed test may leave its jobs' volumes behind: removed after the servers and containers."""
    yield
    for name in docker_jobs.names:
        volumes = docker("volume", "ls", "-q", "--filter", f"label=trainyard.job={name}", check=False).stdout.split()
        if volumes:
            docker("volume", "rm", "-f", *volumes, check=False)


@pytest.fixture
def staged_server(docker_server_factory):
    return docker_server_factory(extra_args=API)


def script_job(name, script, **overrides):
    """A job whose container runs `script` with the test image's busybox sh (ContainerEntrypoint; the
    script travels in the environment: an entrypoint entry is one line of at most 256 characters)."""
    script = "; ".join(line.strip() for line in script.strip().splitlines())
    assert len(script) <= 512
    return job_request(name, AlgorithmSpecification={
        "TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
        "ContainerEntrypoint": ["/bin/sh", "-c", 'eval "$STAGING_TEST_SCRIPT"']},
        Environment={"STAGING_TEST_SCRIPT": script}, **overrides)


def model_files(server, name, bucket="bucket"):
    """{name: bytes} of the job's model.tar.gz, downloaded through the S3 API with boto3."""
    s3 = server.client("s3")
    body = s3.get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        return {member.name: (archive.extractfile(member).read() if member.isfile() else member.type)
                for member in archive.getmembers()}


def staging_leftovers(name):
    """Volumes and helper containers of a job's containers (by the job label they carry)."""
    volumes = docker("volume", "ls", "-q", "--filter", f"label=trainyard.job={name}").stdout.split()
    helpers = docker("ps", "-aq", "--filter", f"label=trainyard.job={name}",
                     "--filter", "label=trainyard.staging.helper").stdout.split()
    return volumes, helpers


def job_log(server, name):
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)
    lines = []
    for stream in streams["logStreams"]:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
                                     startFromHead=True)
        lines += [event["message"] for event in events["events"]]
    return lines


def test_inputs_in_and_outputs_back_through_the_api(staged_server, docker_jobs):
    sm = staged_server.client()
    s3 = staged_server.client("s3")
    s3.create_bucket(Bucket="staged-data")
    s3.put_object(Bucket="staged-data", Key="train/part-1.csv", Body=b"1,2,3\n")
    s3.put_object(Bucket="staged-data", Key="train/deep/part-2.csv", Body=b"4,5,6\n")
    name = docker_jobs.name("staged")
    script = """
        set -e
        cp /opt/ml/input/config/hyperparameters.json /opt/ml/model/hyperparameters.json
        cat /opt/ml/input/data/train/part-1.csv /opt/ml/input/data/train/deep/part-2.csv > /opt/ml/model/data.txt
        ls /opt/ml/code > /opt/ml/model/code.txt
        mkdir -p /opt/ml/output/data/sub && echo out > /opt/ml/output/data/sub/o.txt
        mkdir -p /opt/ml/model/nested/dir && echo deep > /opt/ml/model/nested/dir/f.txt
        echo ready
        sleep 3
    """
    sm.create_training_job(**script_job(
        name, script, HyperParameters={"epochs": "3", "name": "staged"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://staged-data/train/"}}}]))
    wait_for_secondary(sm, name, "Training")
    # While it trains: the container has volumes, no bind mount of a server folder.
    container = docker("ps", "-q", "--filter", f"label=trainyard.job={name}",
                       "--filter", "label=trainyard.staging").stdout.split()
    assert len(container) == 1
    mounts = json.loads(docker("inspect", "--format", "{{json .Mounts}}", container[0]).stdout)
    assert sorted(mount["Destination"] for mount in mounts) == [
        "/opt/ml/checkpoints", "/opt/ml/input", "/opt/ml/model", "/opt/ml/output"]
    assert {mount["Type"] for mount in mounts} == {"volume"}, mounts
    assert not any(str(staged_server.data_dir) in mount.get("Source", "") for mount in mounts)

    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(staged_server, name)
    assert json.loads(files["hyperparameters.json"]) == {"epochs": "3", "name": "staged"}
    assert files["data.txt"] == b"1,2,3\n4,5,6\n"
    assert files["code.txt"] == b"train.py\n"  # the image's /opt/ml/code is not hidden
    assert files["nested/dir/f.txt"] == b"deep\n"
    body = s3.get_object(Bucket="bucket", Key=f"output/{name}/output/output.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        assert archive.extractfile("sub/o.txt").read() == b"out\n"
    assert staging_leftovers(name) == ([], [])


def test_failure_reason_is_the_same_as_with_bind_mounts(docker_server_factory, docker_jobs):
    bind = docker_server_factory()
    staged = docker_server_factory(extra_args=API)
    reasons = {}
    for label, server in (("bind", bind), ("api", staged)):
        name = docker_jobs.name(f"fails-{label}")
        server.client().create_training_job(**job_request(
            name, Environment={"TRAINYARD_TEST_BEHAVIOUR": "fail-with-file",
                               "TRAINYARD_TEST_FAILURE_TEXT": "ValueError: bad input"}))
        job = wait_for_status(server.client(), name, timeout=60)
        assert job["TrainingJobStatus"] == "Failed"
        reasons[label] = job["FailureReason"]
        assert model_files(server, name)["partial.txt"] == b"partial model\n"
        assert staging_leftovers(name) == ([], [])
    assert reasons["api"] == reasons["bind"] == "AlgorithmError: ValueError: bad input"


def test_links_and_special_files_do_not_come_out(staged_server, docker_jobs):
    sm = staged_server.client()
    name = docker_jobs.name("links")
    script = """
        ln -s /etc/shadow /opt/ml/model/shadow
        ln -s / /opt/ml/model/root
        echo kept > /opt/ml/model/kept.txt
        ln /opt/ml/model/kept.txt /opt/ml/model/hard.txt
        mkfifo /opt/ml/model/fifo
        ln -s /etc /opt/ml/output/data
        echo done
    """
    sm.create_training_job(**script_job(name, script))
    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(staged_server, name)
    assert files["kept.txt"] == b"kept\n"
    for planted in ("shadow", "root", "fifo", "hard.txt"):
        assert planted not in files
    assert not any(value == b"" or (isinstance(value, bytes) and b"root:" in value) for value in files.values())
    log = "\n".join(job_log(staged_server, name))
    assert "skipped /opt/ml/model/shadow: a symbolic link" in log
    assert "skipped /opt/ml/model/fifo: a FIFO" in log
    assert staging_leftovers(name) == ([], [])


def test_a_stopped_job_keeps_the_model_its_sigterm_handler_saved(staged_server, docker_jobs):
    sm = staged_server.client()
    name = docker_jobs.name("stopped")
    sm.create_training_job(**job_request(name, Environment={"TRAINYARD_TEST_BEHAVIOUR": "trap-term"}))
    wait_for_secondary(sm, name, "Training")
    container = docker("ps", "-q", "--filter", f"label=trainyard.job={name}",
                       "--filter", "label=trainyard.staging").stdout.split()[0]
    # The trap is installed once "ready" is printed.
    from conftest import wait_for
    wait_for(lambda: "ready" in docker("logs", container).stdout, message="the SIGTERM trap")
    sm.stop_training_job(TrainingJobName=name)
    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Stopped"
    assert model_files(staged_server, name)["saved-on-sigterm"] == b"saved\n"
    assert staging_leftovers(name) == ([], [])


def test_staging_urls_need_an_open_transfer(staged_server):
    for method, path in (("GET", "/_trainyard/staging/AAAA/in"), ("POST", "/_trainyard/staging/AAAA/out")):
        request = urllib.request.Request(staged_server.endpoint + path, data=b"x" if method == "POST" else None,
                                         method=method)
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request, timeout=5)
        assert excinfo.value.code == 403


def test_a_restarted_server_stages_out_a_container_that_exited_while_it_was_down(staged_server, docker_jobs):
    sm = staged_server.client()
    name = docker_jobs.name("recovered")
    sm.create_training_job(**job_request(name, Environment={"TRAINYARD_TEST_BEHAVIOUR": "complete",
                                                            "TRAINYARD_TEST_DELAY_SECONDS": "2"}))
    wait_for_secondary(sm, name, "Training")
    container = docker("ps", "-q", "--filter", f"label=trainyard.job={name}",
                       "--filter", "label=trainyard.staging").stdout.split()[0]
    staged_server.kill()
    assert docker("wait", container, timeout=60).stdout.strip() == "0"
    staged_server.start()
    job = wait_for_status(staged_server.client(), name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert model_files(staged_server, name)["model.txt"] == b"trained model\n"
    assert staging_leftovers(name) == ([], [])


def test_leftover_staging_volumes_are_removed_at_startup(staged_server, docker_jobs):
    """A server that dies between removing a job's container and its staging volumes leaves them
    behind. At startup the server removes its own staging volumes (labelled with its instance id)
    whose job is over or unknown; a running job's, another server's and one naming no job stay."""
    sm = staged_server.client()
    instance = instance_id(staged_server)
    finished = docker_jobs.name("vol-done")
    sm.create_training_job(**job_request(finished))
    assert wait_for_status(sm, finished, timeout=60)["TrainingJobStatus"] == "Completed"
    running = docker_jobs.name("vol-running")
    sm.create_training_job(**job_request(running, Environment={"TRAINYARD_TEST_DELAY_SECONDS": "300"}))
    wait_for_secondary(sm, running, "Training")

    token = docker_jobs.token
    volumes = {  # name: (instance, job id or None)
        f"vol-leak-finished-{token}": (instance, stored_job(staged_server, finished)["id"]),
        f"vol-leak-unknown-{token}": (instance, 999999),
        f"vol-leak-running-{token}": (instance, stored_job(staged_server, running)["id"]),
        f"vol-leak-other-{token}": ("vol-other-instance", 999999),
        f"vol-leak-nojob-{token}": (instance, None),
    }
    try:
        for volume, (owner, job_id) in volumes.items():
            labels = ["--label", f"trainyard.instance={owner}", "--label", f"trainyard.staging.container={volume}"]
            if job_id is not None:
                labels += ["--label", f"trainyard.job-id={job_id}"]
            docker("volume", "create", *labels, volume)
        staged_server.kill()
        staged_server.restart()

        def present():
            return set(docker("volume", "ls", "-q", "--filter", "name=vol-leak-").stdout.split())
        wait_for(lambda: f"vol-leak-finished-{token}" not in present() and f"vol-leak-unknown-{token}" not in present(),
                 timeout=20, message="the leftover volumes to be removed")
        assert {f"vol-leak-running-{token}", f"vol-leak-other-{token}", f"vol-leak-nojob-{token}"} <= present()
    finally:
        for volume in volumes:
            docker("volume", "rm", "-f", volume, check=False)
    sm = staged_server.client()
    sm.stop_training_job(TrainingJobName=running)
    assert wait_for_status(sm, running, timeout=30)["TrainingJobStatus"] == "Stopped"


def test_two_hosts_each_get_their_own_volumes(staged_server, docker_jobs):
    # The distributed test's job (algo-2 talks to algo-1 over the job network), staged: every host's
    # config comes in and its model goes out through the API.
    from test_distributed import run_talk
    name = run_talk(staged_server, docker_jobs, 2)
    assert staging_leftovers(name) == ([], [])


def test_a_stage_in_that_cannot_reach_the_server_fails_the_job_and_leaves_nothing(docker_server_factory, docker_jobs):
    # Nothing listens on port 9 of the loopback: the helper's wget is refused.
    server = docker_server_factory(extra_args=API + ["--advertise-url", "http://127.0.0.1:9"])
    sm = server.client()
    name = docker_jobs.name("unreachable")
    sm.create_training_job(**job_request(name))
    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert "workspace staging (in) for algo-1 failed with exit code 1" in job["FailureReason"], job["FailureReason"]
    assert staging_leftovers(name) == ([], [])
