"""The AWS CLI (`aws sagemaker ...`) against the real binary, JSON output parsed and asserted."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ACCOUNT, REGION, ROLE, TEST_IMAGE, job_request, wait_for_secondary, wait_for_status

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/"


def cli_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    env.update(extra)
    return env


def aws(server, *args, endpoint=True, env=None):
    command = ["aws"] + (["--endpoint-url", server.endpoint] if endpoint else []) + ["--output", "json",
                                                                                     "sagemaker"] + list(args)
    return subprocess.run(command, env=env or cli_env(), capture_output=True, text=True, timeout=60)


def aws_json(server, *args, **kwargs):
    result = aws(server, *args, **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture(scope="module")
def cli_error_exit_code():
    """AWS CLI v1 exits 255 on a service error, v2 exits 254."""
    version = subprocess.run(["aws", "--version"], capture_output=True, text=True, env=cli_env())
    text = version.stdout + version.stderr
    major = int(re.search(r"aws-cli/(\d+)\.", text).group(1))
    return 255 if major == 1 else 254


def test_cli_create_describe_list_stop_and_tags(server):
    request = job_request("cli-job", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"},
                          HyperParameters={"epochs": "3"}, Tags=[{"Key": "team", "Value": "ml"}])
    created = aws_json(server, "create-training-job", "--cli-input-json", json.dumps(request))
    assert created == {"TrainingJobArn": ARN_PREFIX + "cli-job"}

    sm = server.client()
    wait_for_secondary(sm, "cli-job", "Training")
    described = aws_json(server, "describe-training-job", "--training-job-name", "cli-job")
    assert described["TrainingJobName"] == "cli-job"
    assert described["TrainingJobArn"] == ARN_PREFIX + "cli-job"
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("InProgress", "Training")
    assert described["HyperParameters"] == {"epochs": "3"}
    assert described["AlgorithmSpecification"]["TrainingImage"] == TEST_IMAGE
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == "s3://bucket/output/cli-job/output/model.tar.gz"
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == ["Starting", "Downloading", "Training"]
    assert "Tags" not in described

    listed = aws_json(server, "list-training-jobs", "--max-results", "5", "--name-contains", "cli")
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["cli-job"]
    assert listed["TrainingJobSummaries"][0]["TrainingJobStatus"] == "InProgress"

    stopped = aws(server, "stop-training-job", "--training-job-name", "cli-job")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() in ("", "{}")
    assert sm.describe_training_job(TrainingJobName="cli-job")["TrainingJobStatus"] in ("Stopping", "Stopped")
    assert wait_for_status(sm, "cli-job", timeout=10)["TrainingJobStatus"] == "Stopped"

    added = aws_json(server, "add-tags", "--resource-arn", ARN_PREFIX + "cli-job",
                     "--tags", "Key=team,Value=platform", "Key=stage,Value=dev")
    assert added["Tags"] == [{"Key": "team", "Value": "platform"}, {"Key": "stage", "Value": "dev"}]
    tags = aws_json(server, "list-tags", "--resource-arn", ARN_PREFIX + "cli-job")
    assert sorted(tags["Tags"], key=lambda t: t["Key"]) == [{"Key": "stage", "Value": "dev"},
                                                            {"Key": "team", "Value": "platform"}]

    # The job is terminal, so the CLI waiter returns on its first poll.
    waited = aws(server, "wait", "training-job-completed-or-stopped", "--training-job-name", "cli-job")
    assert waited.returncode == 0, waited.stderr


def test_cli_shorthand_create_and_list_pagination(server):
    result = aws(server, "create-training-job", "--training-job-name", "cli-b", "--role-arn", ROLE,
                 "--algorithm-specification", f"TrainingImage={TEST_IMAGE},TrainingInputMode=File",
                 "--output-data-config", "S3OutputPath=s3://bucket/out",
                 "--resource-config", "InstanceType=ml.m5.large,InstanceCount=1,VolumeSizeInGB=10",
                 "--stopping-condition", "MaxRuntimeInSeconds=600")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"TrainingJobArn": ARN_PREFIX + "cli-b"}
    for name in ("cli-a", "cli-c"):
        server.client().create_training_job(**job_request(name))
    # The CLI follows NextToken itself (page size 1) and merges the pages.
    listed = aws_json(server, "list-training-jobs", "--page-size", "1", "--sort-by", "Name", "--sort-order", "Descending")
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["cli-c", "cli-b", "cli-a"]
    described = aws_json(server, "describe-training-job", "--training-job-name", "cli-b")
    assert described["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert described["OutputDataConfig"]["KmsKeyId"] == ""


def test_cli_validation_error_message_and_exit_code(server, cli_error_exit_code):
    result = aws(server, "create-training-job", "--training-job-name", "bad_name", "--role-arn", ROLE,
                 "--algorithm-specification", f"TrainingImage={TEST_IMAGE},TrainingInputMode=File",
                 "--output-data-config", "S3OutputPath=s3://bucket/out",
                 "--resource-config", "InstanceType=ml.m5.large,InstanceCount=1,VolumeSizeInGB=10")
    assert result.returncode == cli_error_exit_code
    assert result.stdout == ""
    assert ("An error occurred (ValidationException) when calling the CreateTrainingJob operation: "
            "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}") in result.stderr

    missing = aws(server, "describe-training-job", "--training-job-name", "nope")
    assert missing.returncode == cli_error_exit_code
    assert ("An error occurred (ValidationException) when calling the DescribeTrainingJob operation: "
            "Requested resource not found.") in missing.stderr

    aws_json(server, "create-training-job", "--cli-input-json", json.dumps(job_request("cli-dup")))
    duplicate = aws(server, "create-training-job", "--cli-input-json", json.dumps(job_request("cli-dup")))
    assert duplicate.returncode == cli_error_exit_code
    assert "An error occurred (ResourceInUse) when calling the CreateTrainingJob operation: Training job names " \
           "must be unique" in duplicate.stderr
    assert [s["TrainingJobName"] for s in server.client().list_training_jobs()["TrainingJobSummaries"]] == ["cli-dup"]


def test_cli_uses_service_endpoint_environment_variable(server):
    """README: AWS_ENDPOINT_URL_SAGEMAKER points the CLI (and boto3) at Trainyard without flags."""
    server.client().create_training_job(**job_request("env-endpoint"))
    listed = aws_json(server, "list-training-jobs", endpoint=False,
                      env=cli_env(AWS_ENDPOINT_URL_SAGEMAKER=server.endpoint))
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["env-endpoint"]
