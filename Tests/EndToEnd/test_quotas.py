"""--instance-quota: CreateTrainingJob past an account-level instance quota answers SageMaker's
ResourceLimitExceeded (HTTP 400, boto3's modeled `client.exceptions.ResourceLimitExceeded`), stores
nothing, and ended jobs give their instances back. Driven with boto3 and the AWS CLI."""
import concurrent.futures
import json
import os
import shutil
import subprocess

import botocore.exceptions
import pytest

from conftest import (BINARY, FAST_ARGS, REGION, job_request, wait_for_secondary, wait_for_status)

LONG_TRAINING = {"TRAINYARD_SIMULATE_TRAINING_SECONDS": "600"}


def limit_message(instance_type, limit, utilization, delta):
    return (f"The account-level service limit '{instance_type} for training job usage' is {limit} Instances, "
            f"with current utilization of {utilization} Instances and a request delta of {delta} Instances. "
            "Please use AWS Service Quotas to request an increase for this quota. If AWS Service Quotas is not "
            "available, contact AWS support to request an increase for this quota.")


def job(name, instance_type="ml.m5.large", count=1, environment=None):
    request = job_request(name, ResourceConfig={"InstanceType": instance_type, "InstanceCount": count,
                                                "VolumeSizeInGB": 30})
    request["Environment"] = dict(LONG_TRAINING if environment is None else environment)
    return request


def refused(sm, request):
    """Creates `request`, expecting ResourceLimitExceeded; returns (message, HTTP status)."""
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as info:
        sm.create_training_job(**request)
    error = info.value.response
    assert error["Error"]["Code"] == "ResourceLimitExceeded"
    return error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def assert_not_stored(sm, name):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.describe_training_job(TrainingJobName=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == "Requested resource not found."
    assert name not in [s["TrainingJobName"] for s in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]


def test_a_zero_quota_refuses_with_sagemakers_message_and_stores_nothing(server_factory):
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.p3.2xlarge=0"])
    sm = server.client()
    message, status = refused(sm, job("gpu", "ml.p3.2xlarge"))
    assert status == 400
    assert message == limit_message("ml.p3.2xlarge", 0, 0, 1)
    assert_not_stored(sm, "gpu")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.list_tags(ResourceArn=f"arn:aws:sagemaker:{REGION}:123456789012:training-job/gpu")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    # The name was not taken: the same create passes once it fits (here, on another type).
    sm.create_training_job(**job("gpu", "ml.m5.large"))


def test_running_jobs_use_the_quota_and_a_stopped_job_frees_it(server_factory):
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.m5.large=3"])
    sm = server.client()
    sm.create_training_job(**job("holds-two", count=2))
    message, _ = refused(sm, job("wants-two", count=2))
    assert message == limit_message("ml.m5.large", 3, 2, 2)
    assert_not_stored(sm, "wants-two")
    sm.create_training_job(**job("fills-it", count=1))          # 2 + 1 reaches the quota exactly
    message, _ = refused(sm, job("one-more"))
    assert message == limit_message("ml.m5.large", 3, 3, 1)

    wait_for_secondary(sm, "holds-two", "Training")
    sm.stop_training_job(TrainingJobName="holds-two")
    assert wait_for_status(sm, "holds-two")["TrainingJobStatus"] == "Stopped"
    sm.create_training_job(**job("wants-two", count=2))
    assert sm.describe_training_job(TrainingJobName="wants-two")["TrainingJobStatus"] == "InProgress"
    message, _ = refused(sm, job("one-more"))
    assert message == limit_message("ml.m5.large", 3, 3, 1)


def test_a_completed_or_failed_job_frees_its_quota(server_factory):
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.m5.large=1"])
    sm = server.client()
    sm.create_training_job(**job("short", environment={}))
    refused(sm, job("waits"))
    assert wait_for_status(sm, "short")["TrainingJobStatus"] == "Completed"
    sm.create_training_job(**job("fails", environment={"TRAINYARD_SIMULATE_EXIT_CODE": "3"}))
    refused(sm, job("waits"))
    assert wait_for_status(sm, "fails")["TrainingJobStatus"] == "Failed"
    sm.create_training_job(**job("waits"))


def test_quotas_are_per_instance_type_with_an_optional_default(server_factory):
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.m5.large=1",
                                        "--instance-quota", "ml.p3.2xlarge=2"])
    sm = server.client()
    sm.create_training_job(**job("cpu"))
    sm.create_training_job(**job("gpu", "ml.p3.2xlarge", count=2))
    assert refused(sm, job("cpu-2"))[0] == limit_message("ml.m5.large", 1, 1, 1)
    assert refused(sm, job("gpu-2", "ml.p3.2xlarge"))[0] == limit_message("ml.p3.2xlarge", 2, 2, 1)
    # A type without a quota (and no --default-instance-quota) is not limited.
    for index in range(3):
        sm.create_training_job(**job(f"free-{index}", "ml.c5.xlarge", count=8))

    limited = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.m5.large=2",
                                         "--default-instance-quota", "1"]).client()
    limited.create_training_job(**job("c5", "ml.c5.xlarge"))
    assert refused(limited, job("c5-2", "ml.c5.xlarge"))[0] == limit_message("ml.c5.xlarge", 1, 1, 1)
    limited.create_training_job(**job("g5", "ml.g5.xlarge"))     # each type has its own default quota
    limited.create_training_job(**job("m5", "ml.m5.large", count=2))


def test_queued_jobs_count_against_the_quota(server_factory):
    """--max-concurrent-jobs still queues (InProgress/Pending); a queued job holds its instances."""
    server = server_factory(extra_args=[*FAST_ARGS, "--max-concurrent-jobs", "1", "--instance-quota", "ml.m5.large=2"])
    sm = server.client()
    sm.create_training_job(**job("runs"))
    sm.create_training_job(**job("queued"))
    wait_for_secondary(sm, "queued", "Pending")
    assert refused(sm, job("refused"))[0] == limit_message("ml.m5.large", 2, 2, 1)


def test_the_environment_form(server_factory):
    server = server_factory(extra_args=FAST_ARGS, env={"TRAINYARD_INSTANCE_QUOTA": "ml.m5.large=1, ml.p3.2xlarge=0",
                                                       "TRAINYARD_DEFAULT_INSTANCE_QUOTA": "2"})
    sm = server.client()
    assert refused(sm, job("gpu", "ml.p3.2xlarge"))[0] == limit_message("ml.p3.2xlarge", 0, 0, 1)
    sm.create_training_job(**job("cpu"))
    assert refused(sm, job("cpu-2"))[0] == limit_message("ml.m5.large", 1, 1, 1)
    sm.create_training_job(**job("c5", "ml.c5.xlarge", count=2))
    assert refused(sm, job("c5-2", "ml.c5.xlarge"))[0] == limit_message("ml.c5.xlarge", 2, 2, 1)

    # A flag on the command line wins over the variable.
    flagged = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.p3.2xlarge=1"],
                             env={"TRAINYARD_INSTANCE_QUOTA": "ml.p3.2xlarge=0"}).client()
    flagged.create_training_job(**job("gpu", "ml.p3.2xlarge"))


def test_concurrent_creates_never_overshoot_the_quota(server_factory):
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.m5.large=3"])

    def create(index):
        sm = server.client()
        try:
            sm.create_training_job(**job(f"race-{index}"))
            return "created"
        except sm.exceptions.ResourceLimitExceeded:
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(create, range(24)))
    assert outcomes.count("created") == 3 and outcomes.count("refused") == 21
    summaries = server.client().list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
    assert len(summaries) == 3


def test_quotas_are_per_account(server_factory, tmp_path):
    from test_auth import ALICE, BOB, client
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    server = server_factory(extra_args=[*FAST_ARGS, "--auth", "sigv4", "--credentials-file", str(credentials),
                                        "--instance-quota", "ml.m5.large=1"])
    alice, bob = client(server, ALICE), client(server, BOB)
    alice.create_training_job(**job("alice-job"))
    assert refused(alice, job("alice-job-2"))[0] == limit_message("ml.m5.large", 1, 1, 1)
    bob.create_training_job(**job("bob-job"))          # Alice's job does not use Bob's quota
    assert refused(bob, job("bob-job-2"))[0] == limit_message("ml.m5.large", 1, 1, 1)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_shows_the_error(server_factory):
    from test_cli import aws
    server = server_factory(extra_args=[*FAST_ARGS, "--instance-quota", "ml.p3.2xlarge=0"])
    result = aws(server, "create-training-job", "--cli-input-json", json.dumps(job("cli-gpu", "ml.p3.2xlarge")))
    assert result.returncode in (254, 255)   # AWS CLI v2 / v1 on a service error
    assert result.stdout == ""
    assert ("An error occurred (ResourceLimitExceeded) when calling the CreateTrainingJob operation: "
            + limit_message("ml.p3.2xlarge", 0, 0, 1)) in result.stderr
    missing = aws(server, "describe-training-job", "--training-job-name", "cli-gpu")
    assert "Requested resource not found." in missing.stderr


@pytest.mark.parametrize("args, env, expected", [
    (["--instance-quota", "ml.m5.large"], {}, "--instance-quota ml.m5.large: expected TYPE=N"),
    (["--instance-quota", "ml.m5.large=two"], {}, "'two' is not a number of instances"),
    (["--instance-quota", "ml.m5.large=-1"], {}, "'-1' is not a number of instances"),
    (["--instance-quota", "ml.m5.larg=1"], {}, "'ml.m5.larg' is not a SageMaker training instance type"),
    (["--instance-quota", "ml.m5.large=1", "--instance-quota", "ml.m5.large=2"], {}, "given more than once"),
    (["--default-instance-quota=-1"], {}, "--default-instance-quota must be zero or more"),
    ([], {"TRAINYARD_INSTANCE_QUOTA": "ml.m5.large=1,ml.p3.2xlarge"},
     "TRAINYARD_INSTANCE_QUOTA ml.p3.2xlarge: expected TYPE=N"),
    ([], {"TRAINYARD_INSTANCE_QUOTA": "ml.m5.large=1,p3=0"},
     "TRAINYARD_INSTANCE_QUOTA p3=0: 'p3' is not a SageMaker training instance type"),
    ([], {"TRAINYARD_DEFAULT_INSTANCE_QUOTA": "many"}, "TRAINYARD_DEFAULT_INSTANCE_QUOTA=many"),
])
def test_bad_quota_configuration_is_refused_with_one_clear_line(tmp_path, args, env, expected):
    """Like every other option's mistake: swift-argument-parser's `Error: <one line>`, then its usage hint."""
    result = subprocess.run([BINARY, "serve", "--runtime", "simulated", "--port", "0", "--data-dir", str(tmp_path)]
                            + args, capture_output=True, text=True, timeout=30, env=dict(os.environ, **env))
    assert result.returncode != 0
    assert "listening" not in result.stdout
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("Error: ") and expected in first_line, result.stderr
