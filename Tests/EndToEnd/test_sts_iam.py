"""STS and IAM, minimal and honest (issue 11 item 4), and one variable for every client (item 5):
with AWS_ENDPOINT_URL alone, boto3's sagemaker, logs, s3, sts and iam clients and the AWS CLI
reach Trainyard."""
import json
import os
import subprocess
import sys

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import ACCOUNT, REGION

ALICE = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111", "name": "alice"}
BOB = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222", "name": "bob"}


def code_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_caller_identity_without_auth(server):
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_get_role_and_simulate(server):
    iam = server.client("iam")
    role = iam.get_role(RoleName="SageMakerRole")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
    assert role["RoleName"] == "SageMakerRole" and role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert iam.get_role(RoleName="SageMakerRole")["Role"]["RoleId"] == role["RoleId"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=role["Arn"], ActionNames=["s3:GetObject", "sagemaker:CreateTrainingJob"],
        ResourceArns=["arn:aws:s3:::bucket/*"])["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "allowed"), ("sagemaker:CreateTrainingJob", "allowed")]
    assert code_of(lambda: iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::999999999999:role/Other", ActionNames=["s3:GetObject"])) == ("NoSuchEntity", 404)
    assert code_of(lambda: iam.get_role(RoleName="bad name!"))[0] == "ValidationError"
    assert code_of(lambda: iam.list_users())[0] == "InvalidAction"


def test_identity_per_access_key(server_factory, tmp_path):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    server = server_factory(extra_args=["--auth", "sigv4", "--credentials-file", str(credentials)])

    def client(service, who, secret=None):
        return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=who["accessKeyId"],
                            aws_secret_access_key=secret or who["secretAccessKey"],
                            config=botocore.config.Config(retries={"max_attempts": 1}))
    identity = client("sts", ALICE).get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == ("111111111111", "arn:aws:iam::111111111111:user/alice")
    assert client("sts", BOB).get_caller_identity()["Account"] == "222222222222"
    assert client("iam", BOB).get_role(RoleName="R")["Role"]["Arn"] == "arn:aws:iam::222222222222:role/R"
    assert code_of(lambda: client("iam", BOB).simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::111111111111:role/R", ActionNames=["s3:GetObject"])) == ("NoSuchEntity", 404)
    assert code_of(lambda: client("sts", ALICE, secret="wrong").get_caller_identity())[0] == "SignatureDoesNotMatch"
    assert code_of(lambda: client("sts", {**ALICE, "accessKeyId": "AKIANOBODY"}).get_caller_identity())[0] == "InvalidClientTokenId"


def one_variable_env(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    return env


def test_one_variable_reaches_every_boto3_client(server):
    script = """
import boto3, json
out = {}
out["sts"] = boto3.client("sts").get_caller_identity()["Account"]
out["iam"] = boto3.client("iam").get_role(RoleName="Trainer")["Role"]["Arn"]
s3 = boto3.client("s3")
s3.create_bucket(Bucket="one-variable")
s3.put_object(Bucket="one-variable", Key="k", Body=b"v")
out["s3"] = s3.get_object(Bucket="one-variable", Key="k")["Body"].read().decode()
out["sagemaker"] = boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
out["logs"] = boto3.client("logs").describe_log_groups()["logGroups"]
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", script], env=one_variable_env(server), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sts": ACCOUNT, "iam": f"arn:aws:iam::{ACCOUNT}:role/Trainer", "s3": "v",
                                         "sagemaker": [], "logs": json.loads(result.stdout)["logs"]}


def test_one_variable_reaches_the_aws_cli(server):
    env = one_variable_env(server)

    def aws(*args):
        result = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout
    assert json.loads(aws("sts", "get-caller-identity"))["Account"] == ACCOUNT
    assert json.loads(aws("iam", "get-role", "--role-name", "Trainer"))["Role"]["RoleName"] == "Trainer"
    aws("s3", "mb", "s3://cli-one-variable")
    assert "cli-one-variable" in aws("s3", "ls")
    assert json.loads(aws("sagemaker", "list-training-jobs"))["TrainingJobSummaries"] == []
