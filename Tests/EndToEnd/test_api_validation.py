"""Every class of client error, as SageMaker (Coral) words it: HTTP 400, the `__type`, the exact
message, and nothing stored.

Requests go through boto3 with client-side parameter validation off (so the server, not botocore,
judges them), or as raw AWS JSON 1.1 where boto3 cannot express the mistake.
"""
import re

import botocore.exceptions
import botocore.session
import pytest

from conftest import ACCOUNT, REGION, TEST_IMAGE, all_job_names, call, error_of, job_request

MODEL = botocore.session.get_session().get_service_model("sagemaker")
CREATE = MODEL.operation_model("CreateTrainingJob").input_shape.members
NAME_PATTERN = CREATE["TrainingJobName"].metadata["pattern"]
ROLE_PATTERN = CREATE["RoleArn"].metadata["pattern"]
S3_PATTERN = CREATE["OutputDataConfig"].members["S3OutputPath"].metadata["pattern"]
INSTANCE_TYPES = "[" + ", ".join(CREATE["ResourceConfig"].members["InstanceType"].enum) + "]"
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/"
NOT_FOUND = ("ValidationException", "Requested resource not found.", 400)


def one(value, path, constraint):
    """One Coral violation clause; `value` None renders as `null`."""
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def detected(*clauses):
    count = len(clauses)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(clauses)


@pytest.fixture(scope="module")
def loose(module_server):
    """A boto3 client that sends whatever it is given (no client-side parameter validation)."""
    return module_server.client(parameter_validation=False)


def create_rejected(server, client, request, code="ValidationException"):
    """Sends a CreateTrainingJob that must fail; returns the message after checking nothing was stored."""
    with pytest.raises(botocore.exceptions.ClientError) as error:
        client.create_training_job(**request)
    got_code, message, status = error_of(error)
    assert (got_code, status) == (code, 400), message
    assert error.value.response["ResponseMetadata"]["RequestId"]
    name = request.get("TrainingJobName")
    if isinstance(name, str) and name:
        stored = all_job_names(server.client())
        assert name not in stored
    return message


# --- CreateTrainingJob constraint violations (Coral format) ------------------------------------------

CREATE_CASES = {
    "name-pattern": (
        job_request("bad_name!"),
        detected(one("bad_name!", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"))),
    "name-leading-dash": (
        job_request("-lead"),
        detected(one("-lead", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"))),
    "name-length-64": (
        job_request("a" * 64),
        detected(one("a" * 64, "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
                 one("a" * 64, "trainingJobName", "Member must have length less than or equal to 63"))),
    "missing-role": (
        {k: v for k, v in job_request("no-role").items() if k != "RoleArn"},
        detected(one(None, "roleArn", "Member must not be null"))),
    "missing-output": (
        {k: v for k, v in job_request("no-output").items() if k != "OutputDataConfig"},
        detected(one(None, "outputDataConfig", "Member must not be null"))),
    "missing-s3-output-path": (
        job_request("no-path", OutputDataConfig={"KmsKeyId": "k"}),
        detected(one(None, "outputDataConfig.s3OutputPath", "Member must not be null"))),
    "role-pattern": (
        job_request("bad-role", RoleArn="arn:aws:iam::123:role/Trainer"),
        detected(one("arn:aws:iam::123:role/Trainer", "roleArn",
                     f"Member must satisfy regular expression pattern: {ROLE_PATTERN}"))),
    "input-mode-enum": (
        job_request("bad-mode", AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "Stream"}),
        detected(one("Stream", "algorithmSpecification.trainingInputMode",
                     "Member must satisfy enum value set: [Pipe, File, FastFile]"))),
    "instance-type-enum": (
        job_request("bad-type", ResourceConfig={"InstanceType": "ml.m5.huge", "InstanceCount": 1}),
        detected(one("ml.m5.huge", "resourceConfig.instanceType",
                     f"Member must satisfy enum value set: {INSTANCE_TYPES}"))),
    "max-runtime-0": (
        job_request("zero-runtime", StoppingCondition={"MaxRuntimeInSeconds": 0}),
        detected(one("0", "stoppingCondition.maxRuntimeInSeconds", "Member must have value greater than or equal to 1"))),
    "s3-output-pattern": (
        job_request("bad-s3", OutputDataConfig={"S3OutputPath": "ftp://bucket/out"}),
        detected(one("ftp://bucket/out", "outputDataConfig.s3OutputPath",
                     f"Member must satisfy regular expression pattern: {S3_PATTERN}"))),
    "channel-name-pattern": (
        job_request("bad-channel", InputDataConfig=[{"ChannelName": "train data", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}]),
        detected(one("train data", "inputDataConfig.1.member.channelName",
                     "Member must satisfy regular expression pattern: [A-Za-z0-9\\.\\-_]+"))),
    "channel-s3-data-type-enum": (
        job_request("bad-datatype", InputDataConfig=[{"ChannelName": "train", "DataSource": {
            "S3DataSource": {"S3DataType": "Folder", "S3Uri": "s3://bucket/train/"}}}]),
        detected(one("Folder", "inputDataConfig.1.member.dataSource.s3DataSource.s3DataType",
                     "Member must satisfy enum value set: [ManifestFile, S3Prefix, AugmentedManifestFile, Converse]"))),
    "too-many-channels": (
        job_request("many-channels", InputDataConfig=[{"ChannelName": f"c{i}", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/c{i}/"}}} for i in range(21)]),
        re.compile(r"1 validation error detected: Value '\[.*\]' at 'inputDataConfig' failed to satisfy constraint: "
                   r"Member must have length less than or equal to 20")),
    "volume-negative": (
        job_request("neg-volume", ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": -1}),
        detected(one("-1", "resourceConfig.volumeSizeInGB", "Member must have value greater than or equal to 0"))),
    "retry-attempts-31": (
        job_request("retry-31", RetryStrategy={"MaximumRetryAttempts": 31}),
        detected(one("31", "retryStrategy.maximumRetryAttempts", "Member must have value less than or equal to 30"))),
    "hyperparameter-value-too-long": (
        job_request("long-hp", HyperParameters={"lr": "1" * 2501}),
        re.compile(r"1 validation error detected: Value '\{lr=1{2501}\}' at 'hyperParameters' failed to satisfy "
                   r"constraint: Map value must satisfy constraint: \[.*Member must have length less than or equal "
                   r"to 2500.*\]")),
    "too-many-tags": (
        job_request("many-tags", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]),
        re.compile(r"1 validation error detected: Value '\[.*k50.*\]' at 'tags' failed to satisfy constraint: "
                   r"Member must have length less than or equal to 50")),
    "empty-tag-key": (
        job_request("empty-tag", Tags=[{"Key": "", "Value": "v"}]),
        detected(one("", "tags.1.member.key", "Member must have length greater than or equal to 1"))),
    "environment-key-pattern": (
        job_request("bad-env", Environment={"1BAD": "x", "GOOD": "y"}),
        re.compile(r"1 validation error detected: Value '\{1BAD=x, GOOD=y\}' at 'environment' failed to satisfy "
                   r"constraint: Map keys must satisfy constraint: \[.*Member must satisfy regular expression "
                   r"pattern: \[a-zA-Z_\]\[a-zA-Z0-9_\]\*.*\]")),
    "environment-value-too-long": (
        job_request("long-env", Environment={"K": "v" * 513}),
        re.compile(r"1 validation error detected: Value '\{K=v{513}\}' at 'environment' failed to satisfy "
                   r"constraint: Map value must satisfy constraint: \[.*Member must have length less than or equal "
                   r"to 512.*\]")),
    "two-errors": (
        job_request("two_errors", AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "Stream"}),
        detected(one("two_errors", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
                 one("Stream", "algorithmSpecification.trainingInputMode",
                     "Member must satisfy enum value set: [Pipe, File, FastFile]"))),
    "three-errors": (
        {**{k: v for k, v in job_request("three_errors").items() if k != "RoleArn"},
         "StoppingCondition": {"MaxRuntimeInSeconds": 0}},
        detected(one("three_errors", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
                 one(None, "roleArn", "Member must not be null"),
                 one("0", "stoppingCondition.maxRuntimeInSeconds", "Member must have value greater than or equal to 1"))),
    "empty-request": (
        {},
        detected(one(None, "trainingJobName", "Member must not be null"), one(None, "roleArn", "Member must not be null"),
                 one(None, "outputDataConfig", "Member must not be null"))),
    # Trainyard runs no serverless jobs: algorithm and instance are required (api-fidelity §2).
    "missing-algorithm": (
        {k: v for k, v in job_request("no-algorithm").items() if k != "AlgorithmSpecification"},
        detected(one(None, "algorithmSpecification", "Member must not be null"))),
    "missing-resource-config": (
        {k: v for k, v in job_request("no-resources").items() if k != "ResourceConfig"},
        detected(one(None, "resourceConfig", "Member must not be null"))),
    "instance-count-0": (
        job_request("zero-instances", ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 0}),
        detected(one("0", "resourceConfig.instanceCount", "Member must have value greater than or equal to 1"))),
}


@pytest.mark.parametrize("case", sorted(CREATE_CASES))
def test_create_constraint_violation(module_server, loose, case):
    request, expected = CREATE_CASES[case]
    message = create_rejected(module_server, loose, request)
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(message), message
    else:
        assert message == expected


def test_create_violation_over_raw_http_is_400_json(module_server):
    status, headers, body = call(module_server, "CreateTrainingJob", job_request("raw_bad"))
    assert status == 400
    assert body == {"__type": "ValidationException", "message": detected(
        one("raw_bad", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"))}
    assert headers["x-amzn-RequestId"]


@pytest.mark.parametrize("request_overrides, fragment", [
    ({"AlgorithmSpecification": {"AlgorithmName": "xgboost", "TrainingInputMode": "File"}}, "AlgorithmName"),
    ({"OutputDataConfig": {"S3OutputPath": "https://bucket.s3.amazonaws.com/out"}}, "S3OutputPath"),
    ({"InputDataConfig": [{"ChannelName": "a", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                              "S3Uri": "s3://b/a/"}}},
                          {"ChannelName": "a", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                              "S3Uri": "s3://b/a/"}}}]},
     "duplicate channel name"),
    ({"EnableManagedSpotTraining": True, "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 60}},
     "MaxWaitTimeInSeconds"),
])
def test_create_semantic_errors_are_validation_exceptions(module_server, loose, request_overrides, fragment):
    """Requests the model allows but Trainyard (or SageMaker) cannot run: a 400 that says why."""
    message = create_rejected(module_server, loose, job_request("semantic", **request_overrides))
    assert fragment.lower() in message.lower()


def test_valid_boundaries_are_accepted(module_server, module_sm):
    name = "a" * 63
    module_sm.create_training_job(**job_request(name, StoppingCondition={"MaxRuntimeInSeconds": 1},
                                                Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)],
                                                Environment={"_K": "v" * 512}))
    module_sm.create_training_job(**job_request("a-b--c", OutputDataConfig={"S3OutputPath": "file:///tmp/trainyard-out"}))
    assert {name, "a-b--c"} <= set(all_job_names(module_sm))


def test_duplicate_name_is_resource_in_use(module_server, module_sm):
    arn = module_sm.create_training_job(**job_request("taken"))["TrainingJobArn"]
    status, _, body = call(module_server, "CreateTrainingJob", job_request("taken"))
    assert status == 400
    assert body == {"__type": "ResourceInUse", "message": (
        "Training job names must be unique within an AWS account and region, and a training job with this name "
        f"already exists ({arn})")}
    assert all_job_names(module_sm, NameContains="taken") == ["taken"]


# --- Missing jobs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("operation, kwargs", [
    ("describe_training_job", {"TrainingJobName": "ghost"}),
    ("stop_training_job", {"TrainingJobName": "ghost"}),
    ("update_training_job", {"TrainingJobName": "ghost", "ResourceConfig": {"KeepAlivePeriodInSeconds": 60}}),
    ("delete_training_job", {"TrainingJobName": "ghost"}),
    ("list_tags", {"ResourceArn": ARN_PREFIX + "ghost"}),
    ("add_tags", {"ResourceArn": ARN_PREFIX + "ghost", "Tags": [{"Key": "a", "Value": "b"}]}),
    ("delete_tags", {"ResourceArn": ARN_PREFIX + "ghost", "TagKeys": ["a"]}),
])
def test_missing_job_is_requested_resource_not_found(module_server, module_sm, operation, kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as error:
        getattr(module_sm, operation)(**kwargs)
    assert error_of(error) == NOT_FOUND
    assert "ghost" not in all_job_names(module_sm)


# --- Other operations' constraints -------------------------------------------------------------------

OTHER_CASES = [
    ("DescribeTrainingJob", {}, detected(one(None, "trainingJobName", "Member must not be null"))),
    ("DescribeTrainingJob", {"TrainingJobName": "no_such!"},
     detected(one("no_such!", "trainingJobName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"))),
    ("StopTrainingJob", {}, detected(one(None, "trainingJobName", "Member must not be null"))),
    ("ListTrainingJobs", {"StatusEquals": "Running"},
     detected(one("Running", "statusEquals", "Member must satisfy enum value set: "
                                              "[InProgress, Completed, Failed, Stopping, Stopped, Deleting]"))),
    ("ListTrainingJobs", {"SortBy": "Size"},
     detected(one("Size", "sortBy", "Member must satisfy enum value set: [Name, CreationTime, Status]"))),
    ("ListTrainingJobs", {"SortOrder": "Up"},
     detected(one("Up", "sortOrder", "Member must satisfy enum value set: [Ascending, Descending]"))),
    ("ListTrainingJobs", {"NameContains": "no_underscores"},
     detected(one("no_underscores", "nameContains", "Member must satisfy regular expression pattern: [a-zA-Z0-9\\-]+"))),
    ("ListTrainingJobs", {"MaxResults": 0, "SortOrder": "Up"},
     detected(one("0", "maxResults", "Member must have value greater than or equal to 1"),
              one("Up", "sortOrder", "Member must satisfy enum value set: [Ascending, Descending]"))),
    ("UpdateTrainingJob", {"TrainingJobName": "x", "ResourceConfig": {"KeepAlivePeriodInSeconds": 21601}},
     detected(one("21601", "resourceConfig.keepAlivePeriodInSeconds", "Member must have value less than or equal to 21600"))),
    ("UpdateTrainingJob", {"TrainingJobName": "x", "ResourceConfig": {}},
     detected(one(None, "resourceConfig.keepAlivePeriodInSeconds", "Member must not be null"))),
    ("ListTags", {"ResourceArn": ""},
     detected(one("", "resourceArn",
                  "Member must satisfy regular expression pattern: arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+"))),
    ("ListTags", {"ResourceArn": ARN_PREFIX + "x", "MaxResults": 10},
     detected(one("10", "maxResults", "Member must have value greater than or equal to 50"))),
    ("DeleteTags", {"ResourceArn": ARN_PREFIX + "x", "TagKeys": []},
     detected(one("[]", "tagKeys", "Member must have length greater than or equal to 1"))),
    ("AddTags", {"ResourceArn": ARN_PREFIX + "x"}, detected(one(None, "tags", "Member must not be null"))),
]


@pytest.mark.parametrize("operation, payload, expected", OTHER_CASES,
                         ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(OTHER_CASES)])
def test_other_operation_violations(module_server, operation, payload, expected):
    status, headers, body = call(module_server, operation, payload)
    assert status == 400
    assert body == {"__type": "ValidationException", "message": expected}
    assert headers["x-amzn-RequestId"]


def test_rejected_update_changes_nothing(module_server, module_sm):
    module_sm.create_training_job(**job_request("keep-as-is"))
    before = module_sm.describe_training_job(TrainingJobName="keep-as-is")
    status, _, body = call(module_server, "UpdateTrainingJob", {
        "TrainingJobName": "keep-as-is", "ResourceConfig": {"KeepAlivePeriodInSeconds": 99999},
        "ProfilerConfig": {"ProfilingIntervalInMilliseconds": 100}})
    assert (status, body["__type"]) == (400, "ValidationException")
    after = module_sm.describe_training_job(TrainingJobName="keep-as-is")
    assert "KeepAlivePeriodInSeconds" not in after["ResourceConfig"]
    assert "ProfilerConfig" not in after
    assert after["CreationTime"] == before["CreationTime"]


def test_client_side_validation_still_applies_with_boto3(module_sm):
    """With botocore's own checks on, a missing required member never reaches the server."""
    request = job_request("client-side")
    del request["RoleArn"]
    with pytest.raises(botocore.exceptions.ParamValidationError):
        module_sm.create_training_job(**request)
    assert "client-side" not in all_job_names(module_sm)
