"""CloudWatch metrics of training jobs (namespace /aws/sagemaker/TrainingJobs, dimension
TrainingJobName), read with boto3, the AWS CLI v1 and the SageMaker SDK 2.x's TrainingJobAnalytics,
from a real container's output matched by the job's MetricDefinitions."""
import datetime
import json
import os
import subprocess

import boto3
import botocore.exceptions
import pytest

from conftest import REGION, job_request, wait_for_status

NAMESPACE = "/aws/sagemaker/TrainingJobs"
# Five steps 0.3 s apart: loss 1/step, and a line that matches nothing between them.
SCRIPT = ('i=1; while [ $i -le 5 ]; do echo "step $i loss=$(awk "BEGIN{print 1/$i}") acc: 0.$i"; '
          'echo "between steps"; i=$((i+1)); sleep 0.3; done')
DEFINITIONS = [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}, {"Name": "train:acc", "Regex": r"acc: (\S+)"}]


def metric_job(name, script=SCRIPT, definitions=DEFINITIONS):
    request = job_request(name)
    request["AlgorithmSpecification"].update(
        {"ContainerEntrypoint": ["/bin/sh", "-c", script], "MetricDefinitions": definitions})
    return request


@pytest.fixture
def finished_job(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("metrics")
    sm.create_training_job(**metric_job(name))
    job = wait_for_status(sm, name, timeout=90)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return docker_server, name, job


def dimensions(name):
    return [{"Name": "TrainingJobName", "Value": name}]


def test_boto3_reads_every_match_as_a_data_point(finished_job):
    server, name, job = finished_job
    cw = server.client("cloudwatch")
    start = job["TrainingStartTime"] - datetime.timedelta(seconds=5)
    end = job["TrainingEndTime"] + datetime.timedelta(minutes=1)

    listed = cw.list_metrics(Namespace=NAMESPACE, Dimensions=dimensions(name))["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["train:acc", "train:loss"]
    assert all(m["Dimensions"] == dimensions(name) and m["Namespace"] == NAMESPACE for m in listed)

    stats = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dimensions(name),
                                     StartTime=start, EndTime=end, Period=1,
                                     Statistics=["SampleCount", "Minimum", "Maximum"])
    points = stats["Datapoints"]
    assert stats["Label"] == "train:loss"
    assert sum(p["SampleCount"] for p in points) == 5
    assert max(p["Maximum"] for p in points) == 1.0
    assert min(p["Minimum"] for p in points) == 0.2
    assert all(isinstance(p["Timestamp"], datetime.datetime) and p["Unit"] == "None" for p in points)

    data = cw.get_metric_data(
        MetricDataQueries=[{"Id": "loss", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "train:loss",
                                                                    "Dimensions": dimensions(name)},
                                                         "Period": 60, "Stat": "Minimum"}}],
        StartTime=start, EndTime=end)["MetricDataResults"]
    assert data[0]["Id"] == "loss" and data[0]["StatusCode"] == "Complete"
    assert min(data[0]["Values"]) == 0.2
    # The series ends on the value DescribeTrainingJob reports as final.
    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert final == {"train:loss": 0.2, "train:acc": 0.5}

    with pytest.raises(cw.exceptions.InvalidParameterValueException) as excinfo:
        cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dimensions(name),
                                 StartTime=start, EndTime=end, Period=7, Statistics=["Average"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dimensions(name),
                                 StartTime=start, EndTime=start + datetime.timedelta(days=2), Period=60,
                                 Statistics=["Average"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_aws_cli_v1(finished_job):
    server, name, job = finished_job
    start = int(job["TrainingStartTime"].timestamp()) - 5
    end = int(job["TrainingEndTime"].timestamp()) + 60
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    out = subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, "cloudwatch", "get-metric-statistics", "--namespace", NAMESPACE,
         "--metric-name", "train:acc", "--dimensions", f"Name=TrainingJobName,Value={name}",
         "--start-time", str(start), "--end-time", str(end), "--period", "60", "--statistics", "Maximum", "SampleCount"],
        capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 5
    assert max(p["Maximum"] for p in points) == 0.5
    listed = subprocess.run(["aws", "--endpoint-url", server.endpoint, "cloudwatch", "list-metrics",
                             "--namespace", NAMESPACE, "--metric-name", "train:loss"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {"Name": "TrainingJobName", "Value": name} in [d for m in json.loads(listed.stdout)["Metrics"] for d in m["Dimensions"]]


def test_sdk_training_job_analytics_dataframe(finished_job, monkeypatch, tmp_path):
    from test_sagemaker_sdk import SDK_CONFIG, offline_environment

    server, name, _ = finished_job
    offline_environment(monkeypatch, tmp_path / "no-aws-config")
    # The SDK builds its CloudWatch client itself: boto_session.client("cloudwatch").
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", server.endpoint)
    try:
        import sagemaker.analytics
        import sagemaker.session
    except ImportError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the SageMaker Python SDK is missing: {error}")
        pytest.skip(f"the SageMaker Python SDK is not installed ({error})")
    boto_session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    session = sagemaker.session.Session(
        boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker", endpoint_url=server.endpoint),
        default_bucket="local-bucket", sagemaker_config=SDK_CONFIG)
    frame = sagemaker.analytics.TrainingJobAnalytics(name, metric_names=["train:loss"], sagemaker_session=session,
                                                     period=1).dataframe()
    assert list(frame.columns) == ["timestamp", "metric_name", "value"]
    assert set(frame["metric_name"]) == {"train:loss"}
    assert frame["timestamp"].iloc[0] == 0 and list(frame["timestamp"]) == sorted(frame["timestamp"])
    assert frame["value"].iloc[0] == 1.0 or frame["value"].iloc[0] > frame["value"].iloc[-1]
    # Without metric names the SDK takes them from the job's MetricDefinitions (default period 60 s).
    everything = sagemaker.analytics.TrainingJobAnalytics(name, sagemaker_session=session).dataframe()
    assert set(everything["metric_name"]) == {"train:loss", "train:acc"}


def test_signed_for_monitoring_per_account(server_factory, tmp_path):
    """--auth sigv4: CloudWatch requests are signed for the service `monitoring`; a wrong secret gets
    AWS's error, and an account's metric queries see only its own jobs."""
    from test_auth import ALICE, BOB

    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    server = server_factory(extra_args=["--auth", "sigv4", "--credentials-file", str(credentials)])

    def client(who, secret=None):
        return boto3.client("cloudwatch", endpoint_url=server.endpoint, region_name=REGION,
                            aws_access_key_id=who["accessKeyId"], aws_secret_access_key=secret or who["secretAccessKey"])

    assert client(ALICE).list_metrics(Namespace=NAMESPACE)["Metrics"] == []
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client(ALICE, secret="wrong").list_metrics()
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"
    now = datetime.datetime.now(datetime.timezone.utc)
    stats = client(BOB).get_metric_statistics(
        Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dimensions("alice-job"),
        StartTime=now - datetime.timedelta(hours=1), EndTime=now, Period=60, Statistics=["Average"])
    assert stats["Datapoints"] == []
