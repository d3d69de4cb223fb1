"""Every SageMaker training operation through boto3 against the real binary (simulated runtime).

The `server` fixture runs phases of 0.2 s and a 1 s stop grace window, so a default job completes
in about a second.
"""
import copy
import datetime
import re
import threading
import time
import urllib.request

import botocore.exceptions
import pytest

from conftest import (ACCOUNT, REGION, ROLE, TEST_IMAGE, all_job_names, call, epoch, error_of, job_request,
                      wait_for, wait_for_secondary, wait_for_status)

ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/"
LONG = {"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"}
# Members Describe computes; everything else is the echo of the request with defaults.
DYNAMIC = {"TrainingJobStatus", "SecondaryStatus", "FailureReason", "CreationTime", "LastModifiedTime",
           "TrainingStartTime", "TrainingEndTime", "TrainingTimeInSeconds", "BillableTimeInSeconds",
           "SecondaryStatusTransitions", "FinalMetricDataList", "ResponseMetadata"}


def put_object(server, key, data=b"1,2,3\n"):
    """Writes s3://bucket/<key> into the server's local object store."""
    path = server.data_dir / "s3" / "bucket" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def full_request(name):
    """A CreateTrainingJob request using every member Trainyard accepts."""
    return dict(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={
            "TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": "loss=([0-9.]+)"}],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        HyperParameters={"epochs": "3", "lr": "0.1", "name": "\"abc\""},
        InputDataConfig=[
            {"ChannelName": "train", "ContentType": "text/csv",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}},
            {"ChannelName": "validation", "CompressionType": "Gzip", "RecordWrapperType": "RecordIO",
             "InputMode": "File",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/validation/",
                                             "S3DataDistributionType": "ShardedByS3Key"}}},
        ],
        OutputDataConfig={"S3OutputPath": "s3://bucket/output/", "KmsKeyId": "alias/my-key",
                          "CompressionType": "NONE"},
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        VpcConfig={"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
        StoppingCondition={"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 7200},
        Tags=[{"Key": "team", "Value": "ml"}, {"Key": "cost-center", "Value": "42"}],
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
        EnableManagedSpotTraining=True,
        CheckpointConfig={"S3Uri": "s3://bucket/checkpoints/", "LocalPath": "/opt/ml/checkpoints"},
        DebugHookConfig={"S3OutputPath": "s3://bucket/debug", "LocalPath": "/opt/ml/output/tensors",
                         "HookParameters": {"save_interval": "100"},
                         "CollectionConfigurations": [{"CollectionName": "losses",
                                                       "CollectionParameters": {"save_interval": "50"}}]},
        TensorBoardOutputConfig={"S3OutputPath": "s3://bucket/tb", "LocalPath": "/opt/ml/output/tensorboard"},
        ExperimentConfig={"ExperimentName": "exp", "TrialName": "trial", "TrialComponentDisplayName": "tc"},
        ProfilerConfig={"S3OutputPath": "s3://bucket/profiler", "ProfilingIntervalInMilliseconds": 500,
                        "ProfilingParameters": {"DataloaderProfilingConfig": "{}"}, "DisableProfiler": False},
        Environment={"MY_VAR": "value", "OTHER": "x y z"},
        RetryStrategy={"MaximumRetryAttempts": 2},
    )


def expected_echo(request):
    """What Describe must echo for `full_request`: the request, defaults filled in, without Tags."""
    echo = copy.deepcopy(request)
    del echo["Tags"]
    echo["TrainingJobArn"] = ARN_PREFIX + request["TrainingJobName"]
    echo["ModelArtifacts"] = {"S3ModelArtifacts": f"s3://bucket/output/{request['TrainingJobName']}/output/model.tar.gz"}
    train = echo["InputDataConfig"][0]
    train["CompressionType"] = "None"
    train["RecordWrapperType"] = "None"
    train["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "FullyReplicated"
    return echo


# --- CreateTrainingJob / DescribeTrainingJob ---------------------------------------------------------

def test_create_returns_arn_and_describe_echoes_every_member(server, sm):
    put_object(server, "train/part-0.csv")
    put_object(server, "validation/part-0.csv")
    request = full_request("echo-everything")
    response = sm.create_training_job(**request)
    assert response["TrainingJobArn"] == "arn:aws:sagemaker:us-east-1:123456789012:training-job/echo-everything"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    expected = expected_echo(request)
    first = sm.describe_training_job(TrainingJobName="echo-everything")
    assert first["TrainingJobStatus"] == "InProgress"
    assert first["SecondaryStatus"] in ("Starting", "Downloading")
    finished = wait_for_status(sm, "echo-everything")
    assert finished["TrainingJobStatus"] == "Completed", finished.get("FailureReason")
    for job in (first, finished):
        echoed = {key: value for key, value in job.items() if key not in DYNAMIC}
        assert echoed == expected
        assert "Tags" not in job


def test_describe_fills_sagemaker_defaults(sm):
    request = job_request(
        "defaults", ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        InputDataConfig=[{"ChannelName": "train",
                          "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/t/"}}}])
    del request["StoppingCondition"]
    sm.create_training_job(**request)
    job = sm.describe_training_job(TrainingJobName="defaults")
    assert job["OutputDataConfig"] == {"S3OutputPath": "s3://bucket/output", "KmsKeyId": "", "CompressionType": "GZIP"}
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert job["AlgorithmSpecification"] == {"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                             "EnableSageMakerMetricsTimeSeries": False}
    assert job["InputDataConfig"] == [{
        "ChannelName": "train", "CompressionType": "None", "RecordWrapperType": "None",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/t/",
                                        "S3DataDistributionType": "FullyReplicated"}}}]
    assert job["EnableNetworkIsolation"] is False
    assert job["EnableInterContainerTrafficEncryption"] is False
    assert job["EnableManagedSpotTraining"] is False
    assert job["HyperParameters"] == {}
    assert job["ModelArtifacts"] == {"S3ModelArtifacts": "s3://bucket/output/defaults/output/model.tar.gz"}
    assert job["RoleArn"] == ROLE
    for absent in ("Tags", "TrainingEndTime", "TrainingTimeInSeconds", "BillableTimeInSeconds", "FailureReason",
                   "VpcConfig", "Environment", "RetryStrategy", "CheckpointConfig"):
        assert absent not in job


def test_status_progression_transitions_and_times(server_factory):
    # Phases of 0.4 s leave a poll every 30 ms ample time to see each status, even on a busy machine.
    sm = server_factory(extra_args=["--simulated-phase-seconds", "0.4"]).client()
    sm.create_training_job(**job_request("progression"))
    seen = []
    modified = []

    def poll():
        job = sm.describe_training_job(TrainingJobName="progression")
        pair = (job["TrainingJobStatus"], job["SecondaryStatus"])
        if not seen or seen[-1] != pair:
            seen.append(pair)
        modified.append(job["LastModifiedTime"])
        if job["TrainingJobStatus"] == "InProgress":
            for absent in ("TrainingEndTime", "TrainingTimeInSeconds", "BillableTimeInSeconds"):
                assert absent not in job
        return job if job["TrainingJobStatus"] != "InProgress" else None

    job = wait_for(poll, timeout=30, interval=0.03, message="progression to finish")
    expected = [("InProgress", "Starting"), ("InProgress", "Downloading"), ("InProgress", "Training"),
                ("InProgress", "Uploading"), ("Completed", "Completed")]
    assert seen == expected
    assert modified == sorted(modified) and len(set(modified)) >= len(seen), \
        "LastModifiedTime must rise with each status"

    transitions = job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    # The messages real jobs show (reference sagemaker-semantics.md §2.1-2.2).
    assert [t["StatusMessage"] for t in transitions] == [
        "Preparing the instances for training", "Downloading input data",
        "Training image download completed. Training in progress.", "Uploading generated training model",
        "Training job completed"]
    assert transitions[0]["StartTime"] == job["CreationTime"]
    for current, following in zip(transitions, transitions[1:]):
        assert current["EndTime"] == following["StartTime"]
        assert current["StartTime"] <= current["EndTime"]
    assert transitions[-1]["StartTime"] == transitions[-1]["EndTime"]
    assert job["TrainingStartTime"] == transitions[1]["StartTime"]
    assert job["TrainingEndTime"] == transitions[-1]["StartTime"]
    assert job["LastModifiedTime"] >= job["TrainingEndTime"]
    seconds = (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds()
    assert job["TrainingTimeInSeconds"] == max(1, int(seconds + 0.5))  # half away from zero
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]


def test_model_artifacts_path_has_no_double_slash(sm):
    sm.create_training_job(**job_request("slash", OutputDataConfig={"S3OutputPath": "s3://bucket/deep/prefix/"}))
    job = sm.describe_training_job(TrainingJobName="slash")
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == "s3://bucket/deep/prefix/slash/output/model.tar.gz"


def test_duplicate_name_is_resource_in_use_even_after_completion(sm):
    sm.create_training_job(**job_request("dup"))
    expected = ("Training job names must be unique within an AWS account and region, and a training job with "
                f"this name already exists ({ARN_PREFIX}dup)")
    with pytest.raises(sm.exceptions.ResourceInUse) as running:
        sm.create_training_job(**job_request("dup", HyperParameters={"other": "1"}))
    assert error_of(running) == ("ResourceInUse", expected, 400)
    assert wait_for_status(sm, "dup")["TrainingJobStatus"] == "Completed"
    with pytest.raises(sm.exceptions.ResourceInUse) as completed:
        sm.create_training_job(**job_request("dup"))
    assert error_of(completed) == ("ResourceInUse", expected, 400)
    assert sm.describe_training_job(TrainingJobName="dup")["HyperParameters"] == {}
    assert all_job_names(sm) == ["dup"]


# --- StopTrainingJob ---------------------------------------------------------------------------------

def test_stop_goes_stopping_then_stopped(sm):
    sm.create_training_job(**job_request("stop-me", Environment=LONG))
    wait_for_secondary(sm, "stop-me", "Training")
    response = sm.stop_training_job(TrainingJobName="stop-me")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    right_after = sm.describe_training_job(TrainingJobName="stop-me")
    assert (right_after["TrainingJobStatus"], right_after["SecondaryStatus"]) in (
        ("Stopping", "Stopping"), ("Stopped", "Stopped"))
    job = wait_for_status(sm, "stop-me", timeout=10)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses[-2:] == ["Stopping", "Stopped"]
    assert [t["StatusMessage"] for t in job["SecondaryStatusTransitions"][-2:]] == [
        "Stopping the training job", "Training job stopped"]
    assert "FailureReason" not in job
    assert job["TrainingEndTime"] == job["SecondaryStatusTransitions"][-1]["StartTime"]
    with pytest.raises(botocore.exceptions.ClientError) as again:
        sm.stop_training_job(TrainingJobName="stop-me")
    assert error_of(again) == (
        "ValidationException", "The request was rejected because the training job is in status Stopped.", 400)


def test_stop_while_stopping_is_rejected(sm):
    sm.create_training_job(**job_request("stop-twice", Environment=dict(LONG, TRAINYARD_SIMULATE_IGNORE_SIGTERM="true")))
    wait_for_secondary(sm, "stop-twice", "Training")
    sm.stop_training_job(TrainingJobName="stop-twice")
    with pytest.raises(botocore.exceptions.ClientError) as again:
        sm.stop_training_job(TrainingJobName="stop-twice")
    assert error_of(again) == (
        "ValidationException", "The request was rejected because the training job is in status Stopping.", 400)


def test_stop_of_completed_or_failed_job_is_rejected(sm):
    sm.create_training_job(**job_request("done"))
    sm.create_training_job(**job_request("broken", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "1"}))
    for name, status in (("done", "Completed"), ("broken", "Failed")):
        assert wait_for_status(sm, name)["TrainingJobStatus"] == status
        with pytest.raises(botocore.exceptions.ClientError) as error:
            sm.stop_training_job(TrainingJobName=name)
        assert error_of(error) == (
            "ValidationException", f"The request was rejected because the training job is in status {status}.", 400)
        assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == status


def test_stop_during_starting_ends_stopped(sm):
    sm.create_training_job(**job_request("stop-early"))
    sm.stop_training_job(TrainingJobName="stop-early")
    job = wait_for_status(sm, "stop-early", timeout=10)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][:1] == ["Starting"]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]


def test_max_runtime_exceeded_stops_the_job(sm):
    sm.create_training_job(**job_request("too-long", StoppingCondition={"MaxRuntimeInSeconds": 1}, Environment=LONG))
    job = wait_for_status(sm, "too-long", timeout=15)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    transitions = job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions][-2:] == ["Stopping", "MaxRuntimeExceeded"]
    # Runtime is counted from the start of training (TrainingStartTime).
    stopping = transitions[-2]
    assert (stopping["StartTime"] - job["TrainingStartTime"]).total_seconds() >= 0.999
    assert "FailureReason" not in job
    assert job["TrainingEndTime"] == transitions[-1]["StartTime"]


def test_sigterm_ignored_stop_waits_for_the_grace_window(sm):
    sm.create_training_job(**job_request(
        "stubborn", Environment=dict(LONG, TRAINYARD_SIMULATE_IGNORE_SIGTERM="true")))
    wait_for_secondary(sm, "stubborn", "Training")
    sm.stop_training_job(TrainingJobName="stubborn")
    assert sm.describe_training_job(TrainingJobName="stubborn")["TrainingJobStatus"] == "Stopping"
    job = wait_for_status(sm, "stubborn", timeout=15)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    stopping, stopped = job["SecondaryStatusTransitions"][-2:]
    assert (stopping["Status"], stopped["Status"]) == ("Stopping", "Stopped")
    waited = (stopped["StartTime"] - stopping["StartTime"]).total_seconds()
    assert 0.999 <= waited < 5, waited


def test_simulated_failure_reasons(sm):
    sm.create_training_job(**job_request("fail-text", Environment={
        "TRAINYARD_SIMULATE_EXIT_CODE": "2", "TRAINYARD_SIMULATE_FAILURE": "ValueError: bad input"}))
    sm.create_training_job(**job_request("fail-code", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "3"}))
    text = wait_for_status(sm, "fail-text")
    code = wait_for_status(sm, "fail-code")
    assert (text["TrainingJobStatus"], text["SecondaryStatus"]) == ("Failed", "Failed")
    assert text["FailureReason"] == "AlgorithmError: ValueError: bad input"
    assert code["FailureReason"] == "AlgorithmError: Exit Code: 3"
    for job in (text, code):
        statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        assert statuses == ["Starting", "Downloading", "Training", "Failed"]
        assert job["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Training job failed"
        assert job["TrainingEndTime"] == job["SecondaryStatusTransitions"][-1]["StartTime"]
        assert job["TrainingTimeInSeconds"] >= 1


# --- ListTrainingJobs --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def listed(module_server, module_sm):
    """Six finished jobs (3 Completed, 1 Failed, 2 Stopped) plus one InProgress, created in order."""
    sm = module_sm
    specs = [
        ("alpha-one", {}), ("beta-one", {"TRAINYARD_SIMULATE_EXIT_CODE": "1"}), ("alpha-two", LONG),
        ("gamma-one", {}), ("beta-two", LONG), ("alpha-three", {}),
    ]
    for name, env in specs:
        sm.create_training_job(**job_request(name, Environment=env) if env else job_request(name))
    for name in ("alpha-two", "beta-two"):
        wait_for_secondary(sm, name, "Training")
        sm.stop_training_job(TrainingJobName=name)
    jobs = {name: wait_for_status(sm, name) for name, _ in specs}
    sm.create_training_job(**job_request("zeta-running", Environment=LONG))
    jobs["zeta-running"] = sm.describe_training_job(TrainingJobName="zeta-running")
    return jobs


def summaries(sm, **kwargs):
    return sm.list_training_jobs(**kwargs)["TrainingJobSummaries"]


def names(sm, **kwargs):
    return [s["TrainingJobName"] for s in summaries(sm, **kwargs)]


def test_list_summary_members(module_sm, listed):
    page = summaries(module_sm, MaxResults=100)
    by_name = {s["TrainingJobName"]: s for s in page}
    assert set(by_name) >= set(listed)
    done = by_name["alpha-one"]
    assert done["TrainingJobArn"] == ARN_PREFIX + "alpha-one"
    assert done["TrainingJobStatus"] == "Completed" and done["SecondaryStatus"] == "Completed"
    assert done["CreationTime"] == listed["alpha-one"]["CreationTime"]
    assert done["TrainingEndTime"] == listed["alpha-one"]["TrainingEndTime"]
    assert done["LastModifiedTime"] == listed["alpha-one"]["LastModifiedTime"]
    running = by_name["zeta-running"]
    assert running["TrainingJobStatus"] == "InProgress"
    assert "TrainingEndTime" not in running
    assert by_name["alpha-two"]["SecondaryStatus"] == "Stopped"
    assert by_name["beta-one"]["TrainingJobStatus"] == "Failed"


def test_list_name_contains_and_status_equals(module_sm, listed):
    sm = module_sm
    assert sorted(names(sm, NameContains="alpha")) == ["alpha-one", "alpha-three", "alpha-two"]
    assert names(sm, NameContains="one", SortBy="Name") == ["alpha-one", "beta-one", "gamma-one"]
    assert names(sm, NameContains="nothing-like-this") == []
    assert sorted(names(sm, StatusEquals="Completed", MaxResults=100)) == ["alpha-one", "alpha-three", "gamma-one"]
    assert names(sm, StatusEquals="Failed") == ["beta-one"]
    assert sorted(names(sm, StatusEquals="Stopped")) == ["alpha-two", "beta-two"]
    assert names(sm, StatusEquals="InProgress") == ["zeta-running"]
    assert names(sm, StatusEquals="Stopped", NameContains="alpha") == ["alpha-two"]


def test_list_sorting(module_sm, listed):
    sm = module_sm
    # Ties (same millisecond) are broken by name, so the listing is stable.
    by_creation = sorted(listed, key=lambda n: (listed[n]["CreationTime"], n))
    assert names(sm, SortBy="CreationTime", SortOrder="Ascending", MaxResults=100) == by_creation
    assert names(sm, SortBy="CreationTime", SortOrder="Descending", MaxResults=100) == by_creation[::-1]
    assert names(sm, SortBy="Name", SortOrder="Ascending", MaxResults=100) == sorted(listed)
    assert names(sm, SortBy="Name", SortOrder="Descending", MaxResults=100) == sorted(listed, reverse=True)
    status_page = summaries(sm, SortBy="Status", SortOrder="Ascending", MaxResults=100)
    statuses = [s["TrainingJobStatus"] for s in status_page]
    assert statuses == sorted(statuses)
    assert statuses[0] == "Completed" and statuses[-1] == "Stopped"
    descending = [s["TrainingJobStatus"] for s in summaries(sm, SortBy="Status", SortOrder="Descending", MaxResults=100)]
    assert descending == sorted(statuses, reverse=True)
    # The model documents SortBy CreationTime / SortOrder Ascending as the defaults.
    assert names(sm, MaxResults=100) == by_creation


def test_list_max_results_and_default_page_size(module_sm, listed):
    sm = module_sm
    first = sm.list_training_jobs(MaxResults=1, SortBy="Name")
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"]] == ["alpha-one"]
    assert first["NextToken"]
    whole = sm.list_training_jobs(MaxResults=100)
    assert len(whole["TrainingJobSummaries"]) == len(listed)
    assert "NextToken" not in whole
    exact = sm.list_training_jobs(MaxResults=len(listed))
    assert len(exact["TrainingJobSummaries"]) == len(listed) and "NextToken" not in exact


@pytest.mark.parametrize("value, constraint", [
    (0, "Member must have value greater than or equal to 1"),
    (101, "Member must have value less than or equal to 100"),
])
def test_list_max_results_out_of_range(module_server, value, constraint):
    sm = module_server.client(parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as error:
        sm.list_training_jobs(MaxResults=value)
    assert error_of(error) == ("ValidationException",
                               f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
                               f"constraint: {constraint}", 400)


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_paginator_yields_every_job_exactly_once(module_sm, listed, page_size):
    sm = module_sm
    pages = list(sm.get_paginator("list_training_jobs").paginate(
        SortBy="Name", PaginationConfig={"PageSize": page_size}))
    seen = [s["TrainingJobName"] for page in pages for s in page["TrainingJobSummaries"]]
    assert seen == sorted(listed)
    assert all(len(page["TrainingJobSummaries"]) <= page_size for page in pages)
    assert len(pages) == -(-len(listed) // page_size)
    descending = [s["TrainingJobName"] for page in sm.get_paginator("list_training_jobs").paginate(
        SortBy="CreationTime", SortOrder="Descending", PaginationConfig={"PageSize": page_size})
        for s in page["TrainingJobSummaries"]]
    assert descending == sorted(listed, key=lambda n: (listed[n]["CreationTime"], n), reverse=True)


def test_filters_apply_before_paging(module_sm, listed):
    sm = module_sm
    pages = list(sm.get_paginator("list_training_jobs").paginate(
        StatusEquals="Completed", PaginationConfig={"PageSize": 1}))
    assert [len(p["TrainingJobSummaries"]) for p in pages] == [1, 1, 1]
    assert sorted(s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]) == [
        "alpha-one", "alpha-three", "gamma-one"]
    contains = all_job_names(sm, NameContains="beta")
    assert sorted(contains) == ["beta-one", "beta-two"]
    first = sm.list_training_jobs(NameContains="alpha", MaxResults=2, SortBy="Name")
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"]] == ["alpha-one", "alpha-three"]
    rest = sm.list_training_jobs(NameContains="alpha", MaxResults=2, SortBy="Name", NextToken=first["NextToken"])
    assert [s["TrainingJobName"] for s in rest["TrainingJobSummaries"]] == ["alpha-two"]
    assert "NextToken" not in rest


def test_tampered_or_foreign_next_token_is_rejected(module_server, module_sm, listed):
    sm = module_sm
    token = sm.list_training_jobs(MaxResults=1)["NextToken"]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "not-a-token", token + "x", "x" + token):
        with pytest.raises(botocore.exceptions.ClientError) as error:
            sm.list_training_jobs(MaxResults=1, NextToken=bad)
        code, message, status = error_of(error)
        assert (code, status) == ("ValidationException", 400)
        assert "pagination token" in message.lower() or "nexttoken" in message.lower()
    # A token belongs to the request it came from.
    with pytest.raises(botocore.exceptions.ClientError) as error:
        sm.list_training_jobs(MaxResults=1, NextToken=token, StatusEquals="Completed")
    assert error_of(error)[0] == "ValidationException"
    # The untouched token still works.
    assert len(sm.list_training_jobs(MaxResults=1, NextToken=token)["TrainingJobSummaries"]) == 1


def test_list_creation_time_filters(module_server, module_sm, listed):
    sm = module_sm
    created = {n: epoch(job["CreationTime"]) for n, job in listed.items()}
    ordered = sorted(listed, key=lambda n: (created[n], n))
    # botocore sends request timestamps as whole seconds; the server compares strictly.
    everything_before = listed[ordered[0]]["CreationTime"] - datetime.timedelta(seconds=2)
    assert sorted(names(sm, CreationTimeAfter=everything_before, MaxResults=100)) == sorted(listed)
    assert names(sm, CreationTimeBefore=everything_before, MaxResults=100) == []
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    assert names(sm, CreationTimeAfter=future) == []
    assert sorted(names(sm, CreationTimeBefore=future, MaxResults=100)) == sorted(listed)
    # Fractional epoch seconds on the raw wire: strict bounds at millisecond precision.
    at = created[ordered[2]]
    status, _, body = call(module_server, "ListTrainingJobs", {"CreationTimeAfter": at, "MaxResults": 100})
    assert status == 200
    assert [s["TrainingJobName"] for s in body["TrainingJobSummaries"]] == [n for n in ordered if created[n] > at]
    assert ordered[2] not in [s["TrainingJobName"] for s in body["TrainingJobSummaries"]]
    status, _, body = call(module_server, "ListTrainingJobs", {"CreationTimeBefore": at, "MaxResults": 100})
    assert [s["TrainingJobName"] for s in body["TrainingJobSummaries"]] == [n for n in ordered if created[n] < at]
    low, high = created[ordered[0]], created[ordered[-1]]
    status, _, body = call(module_server, "ListTrainingJobs", {
        "CreationTimeAfter": low, "CreationTimeBefore": high, "MaxResults": 100})
    assert [s["TrainingJobName"] for s in body["TrainingJobSummaries"]] == [
        n for n in ordered if low < created[n] < high]
    assert len(body["TrainingJobSummaries"]) >= 3


def test_list_last_modified_filters(module_server, module_sm, listed):
    finished = {n: j for n, j in listed.items() if n != "zeta-running"}
    by_modified = sorted(finished, key=lambda n: finished[n]["LastModifiedTime"])
    latest = epoch(finished[by_modified[-1]]["LastModifiedTime"])
    status, _, body = call(module_server, "ListTrainingJobs", {"LastModifiedTimeBefore": latest, "MaxResults": 100})
    assert status == 200
    got = {s["TrainingJobName"] for s in body["TrainingJobSummaries"]}
    assert got == {n for n in finished if epoch(finished[n]["LastModifiedTime"]) < latest}
    assert by_modified[-1] not in got
    status, _, body = call(module_server, "ListTrainingJobs", {"LastModifiedTimeAfter": latest, "MaxResults": 100})
    after = {s["TrainingJobName"] for s in body["TrainingJobSummaries"]}
    assert by_modified[-1] not in after and not (after & got)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    assert sorted(names(module_sm, LastModifiedTimeAfter=past, MaxResults=100)) == sorted(listed)
    assert names(module_sm, LastModifiedTimeBefore=past) == []


def test_list_whole_second_filter_from_boto3(sm):
    sm.create_training_job(**job_request("early"))
    created = epoch(sm.describe_training_job(TrainingJobName="early")["CreationTime"])
    boundary = int(created) + 1
    # Poll the clock (no fixed sleep) until the next whole second has begun.
    wait_for(lambda: time.time() > boundary + 0.02, timeout=3, interval=0.02, message="next second")
    sm.create_training_job(**job_request("late"))
    cut = datetime.datetime.fromtimestamp(boundary, datetime.timezone.utc)
    assert names(sm, CreationTimeAfter=cut) == ["late"]
    assert names(sm, CreationTimeBefore=cut) == ["early"]


# --- UpdateTrainingJob -------------------------------------------------------------------------------

def test_update_stores_and_echoes_profiler_and_keep_alive(sm):
    sm.create_training_job(**job_request("upd", ProfilerConfig={"S3OutputPath": "s3://bucket/prof",
                                                                "ProfilingIntervalInMilliseconds": 500}))
    before = sm.describe_training_job(TrainingJobName="upd")
    response = sm.update_training_job(
        TrainingJobName="upd",
        ProfilerConfig={"ProfilingIntervalInMilliseconds": 1000, "DisableProfiler": False,
                        "ProfilingParameters": {"DataloaderProfilingConfig": "{\"StartStep\": 5}"}},
        ProfilerRuleConfigurations=[{"RuleConfigurationName": "cpu", "RuleEvaluatorImage": "rule:latest",
                                     "RuleParameters": {"rule_to_invoke": "LowGPUUtilization"}}],
        ResourceConfig={"KeepAlivePeriodInSeconds": 600},
        RemoteDebugConfig={"EnableRemoteDebug": True})
    assert response["TrainingJobArn"] == ARN_PREFIX + "upd"
    after = sm.describe_training_job(TrainingJobName="upd")
    assert after["ProfilerConfig"] == {
        "S3OutputPath": "s3://bucket/prof", "ProfilingIntervalInMilliseconds": 1000, "DisableProfiler": False,
        "ProfilingParameters": {"DataloaderProfilingConfig": "{\"StartStep\": 5}"}}
    assert after["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30,
                                       "KeepAlivePeriodInSeconds": 600}
    assert after["ProfilerRuleConfigurations"][0]["RuleConfigurationName"] == "cpu"
    assert after["RemoteDebugConfig"] == {"EnableRemoteDebug": True}
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]
    # The update survives the job's own status changes.
    done = wait_for_status(sm, "upd")
    assert done["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 600
    assert done["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 1000
    sm.update_training_job(TrainingJobName="upd", ResourceConfig={"KeepAlivePeriodInSeconds": 0})
    assert sm.describe_training_job(TrainingJobName="upd")["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 0


# --- DeleteTrainingJob -------------------------------------------------------------------------------

def test_delete_only_terminal_jobs_then_name_is_reusable(sm):
    sm.create_training_job(**job_request("del", Environment=LONG, Tags=[{"Key": "old", "Value": "1"}]))
    with pytest.raises(botocore.exceptions.ClientError) as active:
        sm.delete_training_job(TrainingJobName="del")
    code, message, status = error_of(active)
    assert (code, status) == ("ValidationException", 400)
    assert "InProgress" in message
    assert sm.describe_training_job(TrainingJobName="del")["TrainingJobStatus"] == "InProgress"

    sm.stop_training_job(TrainingJobName="del")
    assert wait_for_status(sm, "del")["TrainingJobStatus"] == "Stopped"
    assert sm.delete_training_job(TrainingJobName="del")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        sm.describe_training_job(TrainingJobName="del")
    assert error_of(gone) == ("ValidationException", "Requested resource not found.", 400)
    assert "del" not in all_job_names(sm)
    with pytest.raises(botocore.exceptions.ClientError) as twice:
        sm.delete_training_job(TrainingJobName="del")
    assert error_of(twice) == ("ValidationException", "Requested resource not found.", 400)

    sm.create_training_job(**job_request("del", Tags=[{"Key": "new", "Value": "2"}]))
    job = wait_for_status(sm, "del")
    assert job["TrainingJobStatus"] == "Completed"
    # Nothing of the deleted job leaks into the new one.
    assert sm.list_tags(ResourceArn=ARN_PREFIX + "del")["Tags"] == [{"Key": "new", "Value": "2"}]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-1] == "Completed"
    assert all_job_names(sm) == ["del"]


def test_delete_completed_and_failed_jobs(sm):
    sm.create_training_job(**job_request("del-ok"))
    sm.create_training_job(**job_request("del-bad", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "9"}))
    for name in ("del-ok", "del-bad"):
        wait_for_status(sm, name)
        sm.delete_training_job(TrainingJobName=name)
    assert all_job_names(sm) == []


# --- Tags --------------------------------------------------------------------------------------------

def test_tags_add_list_overwrite_delete(sm):
    arn = sm.create_training_job(**job_request("tagged", Tags=[{"Key": "team", "Value": "ml"},
                                                               {"Key": "env", "Value": "dev"}]))["TrainingJobArn"]
    assert sorted(sm.list_tags(ResourceArn=arn)["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "ml"}]
    added = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}])
    assert added["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}]
    tags = sm.list_tags(ResourceArn=arn)["Tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [
        {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}, {"Key": "team", "Value": "ml"}]
    assert sm.delete_tags(ResourceArn=arn, TagKeys=["team", "not-there"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]) == ["env", "owner"]
    assert "Tags" not in sm.describe_training_job(TrainingJobName="tagged")
    # The paginator for ListTags (result key Tags) works too.
    paged = [t for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn) for t in page["Tags"]]
    assert sorted(t["Key"] for t in paged) == ["env", "owner"]


def test_add_tags_beyond_fifty_is_rejected(sm):
    arn = sm.create_training_job(**job_request("many-tags", Tags=[
        {"Key": f"k{i}", "Value": "v"} for i in range(49)]))["TrainingJobArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k0", "Value": "overwritten"}, {"Key": "k49", "Value": "v"}])
    assert len(sm.list_tags(ResourceArn=arn, MaxResults=100)["Tags"]) == 50
    with pytest.raises(botocore.exceptions.ClientError) as error:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k50", "Value": "v"}])
    assert error_of(error)[0::2] == ("ValidationException", 400)
    tags = sm.list_tags(ResourceArn=arn, MaxResults=100)["Tags"]
    assert len(tags) == 50 and {"Key": "k0", "Value": "overwritten"} in tags


def test_tags_on_missing_or_foreign_resource(sm):
    for arn in (ARN_PREFIX + "missing", f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:training-job/x",
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/x"):
        for operation, kwargs in (("list_tags", {}), ("add_tags", {"Tags": [{"Key": "a", "Value": "b"}]}),
                                  ("delete_tags", {"TagKeys": ["a"]})):
            with pytest.raises(botocore.exceptions.ClientError) as error:
                getattr(sm, operation)(ResourceArn=arn, **kwargs)
            assert error_of(error) == ("ValidationException", "Requested resource not found.", 400), (arn, operation)


# --- Waiter ------------------------------------------------------------------------------------------

def test_waiter_returns_for_completed_and_stopped(sm):
    waiter = sm.get_waiter("training_job_completed_or_stopped")
    sm.create_training_job(**job_request("w-done"))
    # The waiter raises WaiterError after its 20 attempts: returning is the check.
    waiter.wait(TrainingJobName="w-done", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert sm.describe_training_job(TrainingJobName="w-done")["TrainingJobStatus"] == "Completed"

    sm.create_training_job(**job_request("w-stop", Environment=LONG))
    wait_for_secondary(sm, "w-stop", "Training")
    stopper = threading.Timer(0.5, lambda: sm.stop_training_job(TrainingJobName="w-stop"))
    stopper.start()
    try:
        waiter.wait(TrainingJobName="w-stop", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    finally:
        stopper.join()
    assert sm.describe_training_job(TrainingJobName="w-stop")["TrainingJobStatus"] == "Stopped"


def test_waiter_raises_for_failed_and_missing(sm):
    waiter = sm.get_waiter("training_job_completed_or_stopped")
    sm.create_training_job(**job_request("w-fail", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "1"}))
    with pytest.raises(botocore.exceptions.WaiterError) as failed:
        waiter.wait(TrainingJobName="w-fail", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert failed.value.last_response["TrainingJobStatus"] == "Failed"
    assert "terminal failure state" in str(failed.value)
    with pytest.raises(botocore.exceptions.WaiterError) as missing:
        waiter.wait(TrainingJobName="w-missing", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert missing.value.last_response["Error"]["Code"] == "ValidationException"
    assert "terminal failure state" in str(missing.value)


# --- Concurrency and round trips ---------------------------------------------------------------------

def run_concurrently(server, count, action):
    """Runs `action(client)` on `count` threads at once; returns each result or error code."""
    barrier = threading.Barrier(count)
    results = []
    lock = threading.Lock()
    clients = [server.client() for _ in range(count)]

    def worker(client):
        barrier.wait(timeout=10)
        try:
            outcome = ("ok", action(client))
        except botocore.exceptions.ClientError as error:
            outcome = error_of_response(error)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == count
    return results


def error_of_response(error):
    return (error.response["Error"]["Code"], error.response["Error"]["Message"],
            error.response["ResponseMetadata"]["HTTPStatusCode"])


def test_concurrent_creates_of_one_name_admit_exactly_one(server, sm):
    results = run_concurrently(server, 8, lambda client: client.create_training_job(
        **job_request("contested"))["TrainingJobArn"])
    winners = [r for r in results if r[0] == "ok"]
    losers = [r for r in results if r[0] != "ok"]
    assert winners == [("ok", ARN_PREFIX + "contested")]
    assert {(code, status) for code, _, status in losers} == {("ResourceInUse", 400)}
    assert all_job_names(sm) == ["contested"]


def test_concurrent_stops_admit_exactly_one(server, sm):
    sm.create_training_job(**job_request("stop-race", Environment=LONG))
    wait_for_secondary(sm, "stop-race", "Training")
    results = run_concurrently(server, 8, lambda client: client.stop_training_job(TrainingJobName="stop-race"))
    assert sum(1 for r in results if r[0] == "ok") == 1
    for result in results:
        if result[0] != "ok":
            assert result[0] == "ValidationException" and result[2] == 400
            assert result[1] in ("The request was rejected because the training job is in status Stopping.",
                                 "The request was rejected because the training job is in status Stopped.")
    job = wait_for_status(sm, "stop-race", timeout=10)
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]].count("Stopping") == 1


def test_unusual_strings_round_trip_exactly(sm):
    hyper = {"quote": 'a"b\\c', "control": "tab\there\u0000nul", "unicode": "Grüße 東京 😀", "empty": "",
             "markup": "</script><!--", "k\u00e9y": "v"}
    env = {"MULTILINE": "line 1\nline 2\r\n\u2028end", "JSON": '{"a": [1, 2]}', "_": "\u0001\u00ff"}
    tags = [{"Key": "Grüße 東京", "Value": "a b_c.d:e/f=g+h-i@j"}]
    arn = sm.create_training_job(**job_request("strings", HyperParameters=hyper, Environment=env,
                                               Tags=tags))["TrainingJobArn"]
    job = sm.describe_training_job(TrainingJobName="strings")
    assert job["HyperParameters"] == hyper
    assert job["Environment"] == env
    assert sm.list_tags(ResourceArn=arn)["Tags"] == tags
    assert wait_for_status(sm, "strings")["HyperParameters"] == hyper


def test_stop_in_every_in_progress_phase_ends_stopped(server_factory):
    """StopTrainingJob is accepted in each InProgress phase and always ends Stopped/Stopped."""
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.5", "--stop-grace-seconds", "1"])
    sm = server.client()
    targets = {f"phase-{p.lower()}": p for p in ("Starting", "Downloading", "Training", "Uploading")}
    for name in targets:
        sm.create_training_job(**job_request(name))
    pending = dict(targets)

    def stop_when_reached():
        for name, phase in list(pending.items()):
            job = sm.describe_training_job(TrainingJobName=name)
            assert job["TrainingJobStatus"] == "InProgress", (name, job["SecondaryStatus"])
            if job["SecondaryStatus"] == phase:
                sm.stop_training_job(TrainingJobName=name)
                del pending[name]
        return not pending

    wait_for(stop_when_reached, timeout=15, interval=0.02, message="every job to reach its phase")
    for name, phase in targets.items():
        job = wait_for_status(sm, name, timeout=15)
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped"), name
        statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        assert statuses[-3:] == [phase, "Stopping", "Stopped"], (name, statuses)
        assert "FailureReason" not in job


def test_name_contains_finds_jobs_before_and_after_the_server_indexes_their_names(server, sm):
    """NameContains goes through a trigram index the server fills about once a second; jobs
    created since are read directly. Either way the answer is the same, case-insensitively. How far
    the index is behind is on /metrics."""

    def not_indexed():
        with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as response:
            text = response.read().decode()
        match = re.search(r"^trainyard_job_names_not_indexed (\S+)$", text, re.MULTILINE)
        assert match, "no trainyard_job_names_not_indexed gauge on /metrics"
        return float(match.group(1))

    for index in range(3):
        sm.create_training_job(**job_request(f"trigram-early-{index}"))
    sm.create_training_job(**job_request("unrelated-job"))
    wait_for(lambda: not_indexed() == 0, timeout=30, message="the server to index the job names")
    for index in range(2):
        sm.create_training_job(**job_request(f"trigram-late-{index}"))
    expected = sorted([f"trigram-early-{index}" for index in range(3)] + [f"trigram-late-{index}" for index in range(2)])
    assert names(sm, NameContains="trigram", SortBy="Name", MaxResults=100) == expected
    assert names(sm, NameContains="TRIGRAM-LATE", SortBy="Name") == ["trigram-late-0", "trigram-late-1"]
    assert names(sm, NameContains="gram-early-1") == ["trigram-early-1"]
    assert names(sm, NameContains="nowhere-to-be-found") == []
