"""--auth sigv4: boto3 and the AWS CLI sign as usual; each access key acts for its account, and
accounts never see each other's jobs or logs. Wrong keys get AWS's error codes."""
import json
import os
import subprocess
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION, job_request, wait_for_status

ALICE = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111", "name": "alice"}
BOB = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222", "name": "bob"}


@pytest.fixture
def sigv4_server(server_factory, tmp_path):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    return server_factory(extra_args=["--auth", "sigv4", "--credentials-file", str(credentials),
                                      "--simulated-phase-seconds", "0.1"])


def client(server, who, service="sagemaker", secret=None):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=who["accessKeyId"], aws_secret_access_key=secret or who["secretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_auth_and_credentials_file_from_environment_variables(server_factory, tmp_path):
    """TRAINYARD_CREDENTIALS_FILE is read like every other TRAINYARD_<OPTION> (it once was ignored)."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE]}))
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.1"],
                            env={"TRAINYARD_AUTH": "sigv4", "TRAINYARD_CREDENTIALS_FILE": str(credentials)})
    arn = client(server, ALICE).create_training_job(**job_request("from-env"))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:111111111111:training-job/from-env"
    assert error(lambda: client(server, BOB).list_training_jobs()) == ("UnrecognizedClientException", 400)


def test_each_key_acts_for_its_account_and_accounts_are_isolated(sigv4_server):
    alice, bob = client(sigv4_server, ALICE), client(sigv4_server, BOB)
    arn_a = alice.create_training_job(**job_request("shared-name"))["TrainingJobArn"]
    assert arn_a == "arn:aws:sagemaker:us-east-1:111111111111:training-job/shared-name"
    # Bob neither sees nor can touch Alice's job, and may use the same name.
    code = error(lambda: bob.describe_training_job(TrainingJobName="shared-name"))
    assert code == ("ValidationException", 400)
    assert error(lambda: bob.stop_training_job(TrainingJobName="shared-name"))[0] == "ValidationException"
    assert error(lambda: bob.list_tags(ResourceArn=arn_a))[0] == "ValidationException"
    assert bob.list_training_jobs()["TrainingJobSummaries"] == []
    # Buckets belong to accounts (issue 12): Bob writes his own.
    arn_b = bob.create_training_job(
        **job_request("shared-name", OutputDataConfig={"S3OutputPath": "s3://bob-bucket/output"}))["TrainingJobArn"]
    assert arn_b == "arn:aws:sagemaker:us-east-1:222222222222:training-job/shared-name"
    assert [j["TrainingJobArn"] for j in alice.list_training_jobs()["TrainingJobSummaries"]] == [arn_a]
    assert wait_for_status(alice, "shared-name")["TrainingJobStatus"] == "Completed"
    assert wait_for_status(bob, "shared-name")["TrainingJobStatus"] == "Completed"
    # Logs are scoped the same way: each account sees only its own stream.
    for who in (ALICE, BOB):
        logs = client(sigv4_server, who, "logs")
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]
        assert len(streams) == 1 and streams[0]["arn"].split(":")[4] == who["accountId"]


def test_bad_credentials_get_aws_error_codes(sigv4_server):
    assert error(lambda: client(sigv4_server, ALICE, secret="wrong").list_training_jobs()) == ("InvalidSignatureException", 400)
    stranger = {"accessKeyId": "AKIANOBODY0000000001", "secretAccessKey": "x"}
    assert error(lambda: client(sigv4_server, stranger).list_training_jobs()) == ("UnrecognizedClientException", 400)
    session_token = boto3.client("sagemaker", endpoint_url=sigv4_server.endpoint, region_name=REGION,
                                 aws_access_key_id=ALICE["accessKeyId"], aws_secret_access_key=ALICE["secretAccessKey"],
                                 aws_session_token="token", config=botocore.config.Config(retries={"max_attempts": 1}))
    assert error(lambda: session_token.list_training_jobs())[0] == "UnrecognizedClientException"
    other_region = boto3.client("sagemaker", endpoint_url=sigv4_server.endpoint, region_name="eu-west-1",
                                aws_access_key_id=ALICE["accessKeyId"], aws_secret_access_key=ALICE["secretAccessKey"],
                                config=botocore.config.Config(retries={"max_attempts": 1}))
    assert error(lambda: other_region.list_training_jobs())[0] == "InvalidSignatureException"
    unsigned = urllib.request.Request(sigv4_server.endpoint + "/", data=b"{}", headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(unsigned, timeout=5)
    assert info.value.code == 403
    assert json.loads(info.value.read())["__type"] == "MissingAuthenticationTokenException"


def test_the_aws_cli_signs_for_its_account(sigv4_server):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=BOB["accessKeyId"], AWS_SECRET_ACCESS_KEY=BOB["secretAccessKey"],
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("AWS_SESSION_TOKEN", None)
    created = subprocess.run(
        ["aws", "--endpoint-url", sigv4_server.endpoint, "sagemaker", "create-training-job", "--cli-input-json",
         json.dumps(job_request("from-cli"))], capture_output=True, text=True, env=env, timeout=60)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["TrainingJobArn"].startswith("arn:aws:sagemaker:us-east-1:222222222222:")
    assert client(sigv4_server, ALICE).list_training_jobs()["TrainingJobSummaries"] == []
