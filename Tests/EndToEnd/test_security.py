"""The security suite (issue 12): each test is one attack from the issue, made as a user with a
valid key would make it, and checks what the server answers now. Black-box: the built binary,
boto3 and raw signed HTTP, a real Docker engine with the busybox test image, and `--auth sigv4`
with two accounts where accounts matter. Every test failed on the main branch before issue 12.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import (BINARY, REGION, TEST_IMAGE, inspect_job_container, job_output_dir, job_request,
                      many_files_dataset, read_tarball, s3_path, tarball_names, wait_for, wait_for_secondary,
                      wait_for_status)

ALICE = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111", "name": "alice"}
BOB = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222", "name": "bob"}


def sigv4_args(tmp_path):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    return ["--auth", "sigv4", "--credentials-file", str(credentials)]


def client(server, who, service="sagemaker"):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=who["accessKeyId"], aws_secret_access_key=who["secretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def refusal(call):
    """(code, message) of the ClientError `call` raises."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def script_job(name, script, **overrides):
    """A job whose container runs `script` with busybox's sh."""
    algorithm = {"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File", "ContainerEntrypoint": ["/bin/sh", "-c", script]}
    algorithm.update(overrides.pop("algorithm", {}))
    return job_request(name, AlgorithmSpecification=algorithm, **overrides)


def channel(uri, name="train"):
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}


def log_text(logs, name):
    """Every message of the job's log streams, one per line."""
    lines = []
    for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name + "/"):
        lines += [event["message"] for event in page["events"]]
    return "\n".join(lines)


def host_secret(tmp_path, token):
    """A host folder with a secret file the server (and no container) may read."""
    folder = tmp_path / f"host-secrets-{token}"
    folder.mkdir()
    (folder / "secret.txt").write_text(f"host secret {token}\n")
    return folder


# --- 1. file:// URIs reach the host's files -----------------------------------------------------

def test_file_uris_are_refused_on_a_shared_server(server_factory, tmp_path):
    server = server_factory(extra_args=sigv4_args(tmp_path) + ["--simulated-phase-seconds", "0.1"])
    alice = client(server, ALICE)
    attacks = {
        "channel": dict(InputDataConfig=[channel("file:///etc/")]),
        "output": dict(OutputDataConfig={"S3OutputPath": "file:///tmp/x"}),
        "checkpoint": dict(CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"}),
        "debugger": dict(DebugHookConfig={"S3OutputPath": "file:///root/"}),
    }
    for label, overrides in attacks.items():
        code, message = refusal(lambda: alice.create_training_job(**job_request(f"file-{label}", **overrides)))
        assert code == "ValidationException", label
        assert "--allow-file-uris" in message and "none are allowed" in message, message
    assert alice.list_training_jobs()["TrainingJobSummaries"] == []


def test_allowed_file_uri_prefixes_are_whole_folders(server_factory, tmp_path):
    allowed = tmp_path / "datasets"
    allowed.mkdir()
    (allowed / "train.csv").write_text("1,2\n")
    server = server_factory(extra_args=sigv4_args(tmp_path) + ["--simulated-phase-seconds", "0.1",
                                                               "--allow-file-uris", str(allowed)])
    alice = client(server, ALICE)
    alice.create_training_job(**job_request("allowed", InputDataConfig=[channel(f"file://{allowed}/")]))
    assert wait_for_status(alice, "allowed")["TrainingJobStatus"] == "Completed"
    for uri in (f"file://{allowed}/../", f"file://{allowed}-other/", "file:///etc/"):
        code, _ = refusal(lambda: alice.create_training_job(**job_request("outside", InputDataConfig=[channel(uri)])))
        assert code == "ValidationException", uri


# --- 2. Links a container writes are followed by the server ---------------------------------------

def test_a_linked_failure_file_is_not_read(docker_server, docker_jobs, tmp_path):
    sm, logs = docker_server.client(), docker_server.client("logs")
    name = docker_jobs.name("failure-link")
    secrets = host_secret(tmp_path, docker_jobs.token)
    sm.create_training_job(**script_job(name, f"ln -s {secrets}/secret.txt /opt/ml/output/failure; exit 3"))
    job = wait_for_status(sm, name)
    assert (job["TrainingJobStatus"], job["FailureReason"]) == ("Failed", "AlgorithmError: Exit Code: 3")
    assert "/opt/ml/output/failure was not read" in log_text(logs, name)


def test_linked_output_folders_and_model_entries_are_not_followed(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    name = docker_jobs.name("output-link")
    secrets = host_secret(tmp_path, docker_jobs.token)
    script = ("rm -rf /opt/ml/output/data && ln -s $S /opt/ml/output/data; "
              "ln -s $S /opt/ml/model/linked-folder; ln -s $S/secret.txt /opt/ml/model/linked-file; "
              "echo ok > /opt/ml/model/real.txt")
    sm.create_training_job(**script_job(name, script, Environment={"S": str(secrets)}))
    assert wait_for_status(sm, name)["TrainingJobStatus"] == "Completed"
    output = job_output_dir(docker_server, name)
    # The linked folder is not packed: output.tar.gz is empty.
    assert tarball_names(output / "output.tar.gz") == []
    # Links in the model are stored as links; only the regular file has content.
    assert read_tarball(output / "model.tar.gz") == {"real.txt": b"ok\n"}
    assert sorted(tarball_names(output / "model.tar.gz")) == ["linked-file", "linked-folder", "real.txt"]


def test_links_through_checkpoints_never_reach_the_object_store(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    token = docker_jobs.token
    secrets = host_secret(tmp_path, token)
    ckpt = f"s3://bucket/ckpt-{token}"
    writer = docker_jobs.name("ckpt-link")
    sm.create_training_job(**script_job(
        writer, f"ln -s {secrets} /opt/ml/checkpoints/escape; echo c > /opt/ml/checkpoints/real.ckpt",
        CheckpointConfig={"S3Uri": ckpt}))
    assert wait_for_status(sm, writer)["TrainingJobStatus"] == "Completed"
    stored = s3_path(docker_server, ckpt)
    assert (stored / "real.ckpt").read_text() == "c\n"
    assert not os.path.lexists(stored / "escape")
    # So a plain s3:// channel cannot read the host folder through it.
    reader = docker_jobs.name("ckpt-read")
    sm.create_training_job(**script_job(reader, "cat /opt/ml/input/data/train/secret.txt",
                                        InputDataConfig=[channel(f"{ckpt}/escape/")]))
    job = wait_for_status(sm, reader)
    assert job["TrainingJobStatus"] == "Failed" and job["FailureReason"].startswith("ClientError: No S3 objects found")


def test_a_link_already_in_the_object_store_is_not_written_through(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    token = docker_jobs.token
    target = tmp_path / f"host-target-{token}"
    target.mkdir()
    bucket = s3_path(docker_server, f"s3://legacy-{token}/")
    bucket.mkdir(parents=True)
    os.symlink(target, bucket / "out")
    name = docker_jobs.name("write-through")
    sm.create_training_job(**script_job(name, "echo m > /opt/ml/model/m", OutputDataConfig={"S3OutputPath": f"s3://legacy-{token}/out"}))
    job = wait_for_status(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert str(docker_server.data_dir) not in job["FailureReason"]
    assert list(target.iterdir()) == []


# --- 3. No account boundary in the object store ----------------------------------------------------

def put_private_object(server, who, bucket, key, body):
    """Alice's object in her own bucket: through the S3 API when the server serves it (buckets
    then belong to their creator), else straight into the object store folder (the first account
    whose job uses a bucket then owns it)."""
    s3 = client(server, who, "s3")
    try:
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return
    except Exception:  # no S3 API on this server: any error the attempt raises
        pass
    path = s3_path(server, f"s3://{bucket}/{key}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)

def test_another_accounts_job_cannot_read_or_replace_a_bucket(docker_server_factory, docker_jobs, tmp_path):
    server = docker_server_factory(extra_args=sigv4_args(tmp_path))
    alice, bob = client(server, ALICE), client(server, BOB)
    bucket = f"alice-data-{docker_jobs.token}"
    put_private_object(server, ALICE, bucket, "train/a.csv", b"private\n")
    victim = docker_jobs.name("victim")
    alice.create_training_job(**script_job(
        victim, "cp /opt/ml/input/data/train/a.csv /opt/ml/model/", InputDataConfig=[channel(f"s3://{bucket}/train/")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"}))
    assert wait_for_status(alice, victim)["TrainingJobStatus"] == "Completed"
    model = job_output_dir(server, victim, f"s3://{bucket}/output") / "model.tar.gz"
    original = model.read_bytes()

    thief = docker_jobs.name("thief")
    bob.create_training_job(**script_job(thief, "cat /opt/ml/input/data/train/a.csv", InputDataConfig=[channel(f"s3://{bucket}/train/")],
                                         OutputDataConfig={"S3OutputPath": f"s3://bob-{docker_jobs.token}/output"}))
    job = wait_for_status(bob, thief)
    assert (job["TrainingJobStatus"], job["FailureReason"]) == (
        "Failed", f"ClientError: Data download failed:Unable to download object s3://{bucket}/train/ (AccessDenied: Access Denied)")

    bob.create_training_job(**script_job(victim, "echo replaced > /opt/ml/model/a.csv",
                                         OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"}))
    job = wait_for_status(bob, victim)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Artifact upload failed:") and "AccessDenied" in job["FailureReason"]
    assert model.read_bytes() == original


# --- 4. One job freezes every job ----------------------------------------------------------------

def test_a_catastrophic_metric_regex_does_not_stall_other_jobs(docker_server_factory, docker_jobs, tmp_path):
    server = docker_server_factory(extra_args=sigv4_args(tmp_path))
    alice, bob = client(server, ALICE), client(server, BOB)
    evil = docker_jobs.name("redos")
    # A backtracking engine needs about 2^40 steps for this line: hours.
    line = "a" * 40 + "!"
    alice.create_training_job(**script_job(
        evil, f"echo {line}; echo 'loss=0.5'",
        algorithm={"MetricDefinitions": [{"Name": "evil", "Regex": "(a+)+$"}, {"Name": "loss", "Regex": "loss=([0-9.]+)"}]}))
    wait_for(lambda: alice.describe_training_job(TrainingJobName=evil)["SecondaryStatus"] in ("Uploading", "Completed"),
             timeout=60, message="the ReDoS job to finish training")
    other = docker_jobs.name("other-account")
    bob.create_training_job(**script_job(other, "sleep 30"))
    wait_for_secondary(bob, other, "Training", timeout=30)
    job = wait_for_status(alice, evil, timeout=30)
    assert job["TrainingJobStatus"] == "Completed"
    assert [(m["MetricName"], m["Value"]) for m in job.get("FinalMetricDataList", [])] == [("loss", 0.5)]
    bob.stop_training_job(TrainingJobName=other)
    wait_for_status(bob, other)


# --- 5. The signature does not bind the operation ------------------------------------------------

def signed_path_request(server, who, operation, payload):
    """A path-form request signed with SignedHeaders=content-type;host;x-amz-date."""
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=f"{server.endpoint}/SageMaker.{operation}", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/x-amz-json-1.1"})
    credentials = botocore.credentials.Credentials(who["accessKeyId"], who["secretAccessKey"])
    botocore.auth.SigV4Auth(credentials, "sagemaker", REGION).add_auth(request)
    return request


def send(request, extra_headers=None):
    headers = dict(request.headers.items())
    headers.update(extra_headers or {})
    raw = urllib.request.Request(request.url, data=request.body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(raw, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_an_unsigned_target_header_cannot_change_the_operation(server_factory, tmp_path):
    server = server_factory(extra_args=sigv4_args(tmp_path) + ["--simulated-phase-seconds", "0.1"])
    alice = client(server, ALICE)
    alice.create_training_job(**job_request("keep-me"))
    wait_for_status(alice, "keep-me")
    request = signed_path_request(server, ALICE, "DescribeTrainingJob", {"TrainingJobName": "keep-me"})
    assert "SignedHeaders=content-type;host;x-amz-date," in request.headers["Authorization"]
    status, body = send(request, {"X-Amz-Target": "SageMaker.DeleteTrainingJob"})
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert alice.describe_training_job(TrainingJobName="keep-me")["TrainingJobName"] == "keep-me"
    # The same request as signed is fine.
    status, body = send(request)
    assert (status, body["TrainingJobName"]) == (200, "keep-me")


# --- FIFOs, resources ---------------------------------------------------------------------------

def test_a_fifo_in_checkpoints_does_not_block_the_upload(docker_server, docker_jobs):
    sm, logs = docker_server.client(), docker_server.client("logs")
    name = docker_jobs.name("fifo")
    ckpt = f"s3://bucket/fifo-{docker_jobs.token}"
    sm.create_training_job(**script_job(
        name, "mkfifo /opt/ml/checkpoints/pipe /opt/ml/model/pipe; echo c > /opt/ml/checkpoints/real.ckpt",
        CheckpointConfig={"S3Uri": ckpt}))
    assert wait_for_status(sm, name, timeout=60)["TrainingJobStatus"] == "Completed"
    stored = s3_path(docker_server, ckpt)
    assert sorted(os.listdir(stored)) == ["real.ckpt"]
    text = log_text(logs, name)
    assert "skipped pipe: a FIFO" in text


def test_containers_get_their_instance_types_resources(docker_server_factory, docker_jobs):
    limited = docker_server_factory()
    sm = limited.client()
    name = docker_jobs.name("limits")
    sm.create_training_job(**script_job(name, "sleep 60", ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}))
    wait_for_secondary(sm, name, "Training")
    host = inspect_job_container(name)["HostConfig"]
    host_cpus = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        host_memory = int(meminfo.readline().split()[1]) * 1024
    assert host["Memory"] == min(8 << 30, host_memory)
    assert host["NanoCpus"] == min(2, host_cpus) * 1_000_000_000
    assert host["PidsLimit"] == 4096
    sm.stop_training_job(TrainingJobName=name)
    wait_for_status(sm, name)

    unlimited = docker_server_factory(extra_args=["--container-limits", "none"])
    sm = unlimited.client()
    free = docker_jobs.name("no-limits")
    sm.create_training_job(**script_job(free, "sleep 60"))
    wait_for_secondary(sm, free, "Training")
    host = inspect_job_container(free)["HostConfig"]
    assert host["Memory"] == 0 and host["NanoCpus"] == 0 and host["PidsLimit"] in (None, 0, -1)
    sm.stop_training_job(TrainingJobName=free)
    wait_for_status(sm, free)


# Four readers of 1500 MiB buffers, each refilled three times: any three at once exceed 4 GiB.
# (busybox `dd bs=6G` reads at most ~2 GiB per read(2), and `head -c | tail` fails malloc instead
# of faulting pages in; both measured below the limit.) The script exits with the first non-zero
# status, 137 for a killed reader.
MEMORY_HOG = ('pids=""; for i in 1 2 3 4; do dd if=/dev/zero of=/dev/null bs=1500M count=3 2>/dev/null & pids="$pids $!"; '
              'done; rc=0; for p in $pids; do wait $p || rc=$?; done; exit $rc')
OOM_TEXT = "ClientError: Please use an instance type with more memory, or reduce the size of job data processed on an instance."


def test_a_job_over_its_instance_types_memory_is_oom_killed(docker_server_factory, docker_jobs, container_events):
    """ml.t3.medium has 4 GiB: a container touching 6 GiB is killed by the kernel's OOM killer (the
    engine reports OOMKilled, `docker events` an `oom`), and the job fails with SageMaker's memory
    ClientError. A container killed by SIGKILL without an OOM (the same exit code, 137) is an
    AlgorithmError: the engine's OOMKilled flag, not the exit code, decides."""
    with open("/proc/meminfo") as meminfo:
        host_memory = int(meminfo.readline().split()[1]) * 1024
    if host_memory < 8 << 30:
        # The limit is min(4 GiB, host memory): on a small host the job would press on the host itself.
        pytest.skip(f"the host has {host_memory / (1 << 30):.1f} GiB; the test needs 8 GiB to stay inside the container's 4 GiB")
    if subprocess.run(["docker", "info", "--format", "{{.MemoryLimit}}"], capture_output=True, text=True).stdout.strip() != "true":
        pytest.skip("the engine reports no memory limit support (docker info MemoryLimit false)")
    server = docker_server_factory()
    sm = server.client()
    t3_medium = {"InstanceType": "ml.t3.medium", "InstanceCount": 1, "VolumeSizeInGB": 1}
    hog = docker_jobs.name("oom")
    hog_events = container_events(hog)
    started = time.monotonic()
    sm.create_training_job(**script_job(hog, MEMORY_HOG, ResourceConfig=t3_medium))
    job = wait_for_status(sm, hog, timeout=180)
    elapsed = time.monotonic() - started
    assert job["TrainingJobStatus"] == "Failed", job
    assert job["FailureReason"] == OOM_TEXT, job["FailureReason"]
    assert "oom" in hog_events.actions(), hog_events.actions()
    assert hog_events.exit_codes() == [137]
    print(f"OOM job: Failed with the memory ClientError {elapsed:.1f} s after Create")

    killed = docker_jobs.name("sigkill")
    killed_events = container_events(killed)
    # A child shell kills itself (the container's PID 1 would ignore the signal) and its status is the exit code.
    sm.create_training_job(**script_job(killed, "sh -c 'kill -9 $$'; exit $?", ResourceConfig=t3_medium))
    job = wait_for_status(sm, killed, timeout=60)
    assert job["TrainingJobStatus"] == "Failed" and job["FailureReason"] == "AlgorithmError: Exit Code: 137", job
    assert killed_events.exit_codes() == [137] and "oom" not in killed_events.actions()


# --- 8. Two servers on one engine, one data dir twice ----------------------------------------------

def test_two_servers_on_one_engine_run_their_own_containers(docker_server_factory, docker_jobs, tmp_path):
    first = docker_server_factory(data_dir=tmp_path / "first")
    second = docker_server_factory(data_dir=tmp_path / "second")
    name = docker_jobs.name("same-name")
    for server, mark in ((first, "first"), (second, "second")):
        server.client().create_training_job(**script_job(
            name, "echo $MARK > /opt/ml/model/who; sleep 2", Environment={"MARK": mark}))
    for server, mark in ((first, "first"), (second, "second")):
        job = wait_for_status(server.client(), name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"who": f"{mark}\n".encode()}
        assert "adopting existing container" not in server.log_path.read_text()


def test_a_second_server_on_the_same_data_dir_refuses_to_start(server_factory, tmp_path):
    running = server_factory(data_dir=tmp_path / "shared")
    result = subprocess.run(
        [BINARY, "serve", "--runtime", "simulated", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", str(running.data_dir)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another trainyard server" in lines[0] and str(running.data_dir) in lines[0], result.stderr
    # The first one still serves.
    assert running.client().list_training_jobs()["TrainingJobSummaries"] == []


# --- 9, 10. Staging bounds; LocalPath ----------------------------------------------------------------

def test_a_channel_larger_than_the_volume_fails_the_job(server_factory, tmp_path):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.1"])
    sm = server.client()
    data = s3_path(server, "s3://bucket/huge")
    data.mkdir(parents=True)
    with open(data / "sparse.bin", "wb") as sparse:
        sparse.truncate((1 << 30) + (1 << 20))  # 1 GiB + 1 MiB, sparse on disk
    sm.create_training_job(**job_request("too-big", InputDataConfig=[channel("s3://bucket/huge/")],
                                         ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}))
    job = wait_for_status(sm, "too-big", timeout=120)
    assert (job["TrainingJobStatus"], job["FailureReason"]) == ("Failed", "ClientError: Data download failed:Insufficient disk space")


def test_stop_interrupts_a_channel_copy(server_factory, tmp_path):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.1", "--keep-workspaces", "true"])
    sm = server.client()
    total = 30000
    many_files_dataset(s3_path(server, "s3://bucket/many"), count=total)
    sm.create_training_job(**job_request("interrupted", InputDataConfig=[channel("s3://bucket/many/")]))

    def staged_files():
        return sum(len(files) for folder in (server.data_dir / "workspaces").glob("*-interrupted/algo-1/input/data/train")
                   for _, _, files in os.walk(folder))
    # Stop once the copy is under way.
    wait_for(lambda: staged_files() > 0, timeout=60, interval=0.01, message="the channel copy to start")
    sm.stop_training_job(TrainingJobName="interrupted")
    assert wait_for_status(sm, "interrupted", timeout=120)["TrainingJobStatus"] == "Stopped"
    assert 0 < staged_files() < total


def test_checkpoint_local_path_cannot_cover_system_folders(server_factory, tmp_path):
    server = server_factory(extra_args=sigv4_args(tmp_path) + ["--simulated-phase-seconds", "0.1"])
    alice = client(server, ALICE)
    for path in ("/proc", "/", "/etc", "/sys/fs", "/dev"):
        code, message = refusal(lambda: alice.create_training_job(**job_request(
            "local-path", CheckpointConfig={"S3Uri": "s3://bucket/ckpt", "LocalPath": path})))
        assert code == "ValidationException" and "reserved path" in message, path
    alice.create_training_job(**job_request("local-path", CheckpointConfig={"S3Uri": "s3://bucket/ckpt", "LocalPath": "/opt/ml/checkpoints/run"}))


# --- 10. Log eventIds and tokens counted every account's lines --------------------------------------

def test_log_event_ids_and_tokens_say_nothing_about_other_accounts(docker_server_factory, docker_jobs, tmp_path):
    """Issue 12: FilterLogEvents' eventId was the database-wide line sequence (as were the digits of
    GetLogEvents' tokens and FilterLogEvents' readable nextToken), so Bob saw how many lines Alice's
    jobs had written. Bob runs the same job on two servers, one where Alice first wrote 300 lines:
    his ids' numbers and his tokens' positions come out the same, and his nextToken is opaque."""
    import base64

    def bobs_view(alice_lines):
        server = docker_server_factory(extra_args=sigv4_args(tmp_path))
        if alice_lines:
            alice = client(server, ALICE)
            chatty = docker_jobs.name("chatty")
            alice.create_training_job(**script_job(
                chatty, f"seq 1 {alice_lines}", OutputDataConfig={"S3OutputPath": f"s3://alice-{docker_jobs.token}/out"}))
            assert wait_for_status(alice, chatty, timeout=90)["TrainingJobStatus"] == "Completed"
            wait_for(lambda: len(log_text(client(server, ALICE, "logs"), chatty).splitlines()) == alice_lines,
                     message="Alice's lines to be stored")
        bob, logs = client(server, BOB), client(server, BOB, "logs")
        quiet = docker_jobs.name("quiet")
        bob.create_training_job(**script_job(
            quiet, "echo b0; echo b1; echo b2", OutputDataConfig={"S3OutputPath": f"s3://bob-{docker_jobs.token}/out"}))
        assert wait_for_status(bob, quiet, timeout=90)["TrainingJobStatus"] == "Completed"
        group = "/aws/sagemaker/TrainingJobs"
        events = wait_for(lambda: (lambda found: found if len(found) == 3 else None)(
            logs.filter_log_events(logGroupName=group, logStreamNamePrefix=quiet + "/")["events"]),
            message="Bob's lines to be stored")
        page = logs.get_log_events(logGroupName=group, logStreamName=events[0]["logStreamName"], startFromHead=True)
        first = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=quiet + "/", limit=1)
        return events, page, first["nextToken"]

    quiet_events, quiet_page, quiet_token = bobs_view(alice_lines=0)
    busy_events, busy_page, busy_token = bobs_view(alice_lines=300)
    assert [e["message"] for e in busy_events] == ["b0", "b1", "b2"]
    for event in quiet_events + busy_events:
        assert len(event["eventId"]) == 56 and event["eventId"].isdigit(), event["eventId"]
    # The last 20 digits number the event in its own stream: 1, 2, 3 whatever Alice wrote.
    assert [e["eventId"][-20:] for e in busy_events] == [e["eventId"][-20:] for e in quiet_events] == \
        [f"{n:020d}" for n in (1, 2, 3)]
    # Token digits: 20 of event time (which differs between the runs), 20 of position in the stream.
    for key in ("nextForwardToken", "nextBackwardToken"):
        assert busy_page[key][-22:] == quiet_page[key][-22:], (key, busy_page[key], quiet_page[key])
    assert busy_page["nextForwardToken"][-22:] == f"{4:020d}/s"
    # The FilterLogEvents nextToken is encrypted: nothing readable inside.
    for token in (quiet_token, busy_token):
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert b'"sequence"' not in raw and b'"payload"' not in raw and b"Milliseconds" not in raw, raw[:40]
