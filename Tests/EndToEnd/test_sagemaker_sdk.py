"""The SageMaker Python SDK 2.x (PyPI `sagemaker>=2,<3`, installed by scripts/install-deps.sh --test)
driving Trainyard's Docker runtime, as a data scientist's notebook would: `Estimator.fit` with and
without logs, the failure it raises, `Estimator.attach`, `logs_for_job` tailing a running job, and
MetricDefinitions.

Offline by construction, everything on 127.0.0.1:
- no AWS config or credentials file (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE point at a path
  that does not exist), no instance metadata lookups, static test keys on the boto3 session;
- the SDK's `Session` gets a SageMaker client pointed at Trainyard, `default_bucket="local-bucket"`
  (so no bucket lookup) and an in-memory SDK config with `TelemetryOptOut` (no config files read,
  no telemetry GET to S3); every Estimator gets `output_path`, inputs are `s3://` URIs that already
  exist in Trainyard's object store, so the SDK uploads nothing;
- the SDK builds its own CloudWatch Logs client from the boto3 session (`_logs_init`), which
  `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` points at Trainyard;
- `loopback_only` refuses, and records, every DNS lookup and connection to anything but the
  loopback: a test that made one fails, even where the SDK swallows the error (as its telemetry does).

The SDK's own pacing sets the run time (about 85 s in all on a 2-core machine): `_wait_until` sleeps 5 s before the
first DescribeTrainingJob of `logs_for_job`, `wait_for_job` polls every 5 s, and a tailing
`logs_for_job` re-describes the job only every 30 s whatever its `poll`. The tests keep jobs short
(one ~10 s job is tailed; the others end before the first describe) and use the `poll` argument
where the SDK has one; time itself is never patched.
"""
import ipaddress
import logging
import os
import re
import socket
import time

import boto3
import pytest

from conftest import REGION, ROLE, TEST_IMAGE, behaviour, read_tarball, s3_path, wait_for_status

BUCKET = "local-bucket"
OUTPUT = f"s3://{BUCKET}/sdk-output"
TRAIN_PREFIX = f"s3://{BUCKET}/datasets/train/"
# An SDK config given to every Session: it stops the SDK reading config files and sending telemetry.
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
# "<date> <time> <Status> - <StatusMessage>", as secondary_training_status_message prints it.
TIME_PREFIX = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "


def offline_environment(monkeypatch, missing_path):
    """The process environment for the SDK: no AWS files, no metadata service, no warning banner."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                 "SAGEMAKER_ADMIN_CONFIG_OVERRIDE", "SAGEMAKER_USER_CONFIG_OVERRIDE", "JPY_PARENT_PID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing_path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    """The `sagemaker` package, imported offline and quietly. Missing or not 2.x: skipped, except
    under CI=true, where scripts/install-deps.sh --test must have installed it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        offline_environment(monkeypatch, tmp_path_factory.mktemp("no-aws") / "missing")
        # The SDK's config logger prints "Not applying SDK defaults from location: …" for every
        # absent config file unless its level is set before the import.
        logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
        problem = None
        try:
            import sagemaker
            import sagemaker.estimator
            import sagemaker.exceptions
            import sagemaker.inputs
            import sagemaker.session
            import sagemaker.utils
        except ImportError as error:
            problem = f"the SageMaker Python SDK is not installed ({error})"
        else:
            if not sagemaker.__version__.startswith("2."):
                problem = f"the SageMaker Python SDK is {sagemaker.__version__}, not 2.x"
        if problem:
            message = f"{problem}; install it with scripts/install-deps.sh --test"
            if os.environ.get("CI") == "true":
                pytest.fail(message + " [CI=true: the SDK tests must run]", pytrace=False)
            pytest.skip(message)
        yield sagemaker


def is_loopback(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Refuses DNS lookups and connections that would leave the machine, and fails the test that
    attempted one (the refusal alone could go unnoticed: the SDK's telemetry swallows errors)."""
    attempts = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not is_loopback(host):
            attempts.append(f"DNS lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test_sagemaker_sdk: {host} is off this machine")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            attempts.append(f"connection to {address!r}")
            raise ConnectionRefusedError(f"test_sagemaker_sdk: {address} is off this machine")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert not attempts, f"the SDK tried to leave the machine: {attempts}"


@pytest.fixture
def trainyard(sdk, docker_server_factory, monkeypatch, tmp_path):
    """A Docker-runtime server (grace 2 s), with the SDK's environment pointed at it."""
    server = docker_server_factory(grace=2)
    offline_environment(monkeypatch, tmp_path / "no-aws-config")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.endpoint)
    # The SDK makes its logs client itself: boto_session.client("logs", config=...).
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", server.endpoint)
    return server


@pytest.fixture
def session(sdk, trainyard):
    boto_session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=REGION)
    return sdk.session.Session(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker", endpoint_url=trainyard.endpoint),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime", endpoint_url=trainyard.endpoint),
        default_bucket=BUCKET,
        sagemaker_config=SDK_CONFIG)


@pytest.fixture
def make_estimator(sdk, session):
    def make(environment, **kwargs):
        return sdk.estimator.Estimator(
            image_uri=TEST_IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.large",
            output_path=OUTPUT, environment=environment, sagemaker_session=session, **kwargs)
    return make


def status_line(status, message):
    return TIME_PREFIX + re.escape(f"{status} - {message}")


def positions_in_order(text, patterns):
    """The offset of each regex's first match in `text`, asserting each is found after the previous."""
    offsets, start = [], 0
    for pattern in patterns:
        match = re.compile(pattern).search(text, start)
        assert match, f"{pattern!r} not found in order in:\n{text}"
        offsets.append(match.start())
        start = match.end()
    return offsets


def dataset(server, name="part-0.csv", content="1,2,3\n"):
    """An object under TRAIN_PREFIX in the server's local object store (nothing is uploaded)."""
    path = s3_path(server, TRAIN_PREFIX + name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return TRAIN_PREFIX


# --- 1. fit(logs=True, wait=True) ------------------------------------------------------------------

def test_fit_with_logs_prints_status_and_container_lines_and_returns_on_completed(
        sdk, trainyard, session, make_estimator, docker_jobs, capsys):
    job = docker_jobs.name("sdk-fit")
    inputs = {"train": sdk.inputs.TrainingInput(dataset(trainyard), content_type="text/csv")}
    estimator = make_estimator(behaviour("complete"), hyperparameters={"epochs": 3})
    capsys.readouterr()

    estimator.fit(inputs, job_name=job, logs=True, wait=True)
    out = capsys.readouterr().out

    # SecondaryStatusTransitions as the SDK prints them, the container's lines, each once, and the
    # billing summary. The job usually ended before the SDK's first describe (5 s in), so every
    # transition comes first and the first log line follows the last one without a newline; on a
    # slow machine the later transitions follow the lines instead, so each sequence is checked
    # on its own.
    transitions = [
        status_line("Starting", "Preparing the instances for training"),
        status_line("Downloading", "Downloading input data"),
        status_line("Training", "Training image download completed. Training in progress."),
        status_line("Uploading", "Uploading generated training model"),
        status_line("Completed", "Training job completed")]
    stdout_lines = [r"starting training \(args: train\)\n", r"epoch=1 loss=0\.9\n", r"epoch=2 loss=0\.7\n",
                    r"epoch=3 loss=0\.5\n", r"training complete\n"]
    summary = [r"Training seconds: \d+\n", r"Billable seconds: \d+\n"]
    positions_in_order(out, transitions + summary)
    positions_in_order(out, transitions[:1] + stdout_lines + summary)
    # Where the stderr line falls among the stdout lines is Docker's race between its stdout and
    # stderr copiers (it timestamps each line as it reads it), so only its presence is checked.
    positions_in_order(out, transitions[:1] + [r"a line on stderr\n"] + summary)
    for line in ("starting training (args: train)\n", "epoch=3 loss=0.5\n", "a line on stderr\n",
                 "training complete\n"):
        assert out.count(line) == 1, out

    # fit returned on Completed, and the estimator knows its model.
    description = session.describe_training_job(job)
    assert description["TrainingJobStatus"] == "Completed"
    assert estimator.latest_training_job.name == job
    assert estimator.model_data == f"{OUTPUT}/{job}/output/model.tar.gz"
    model = s3_path(trainyard, estimator.model_data)
    assert model.is_file()
    assert read_tarball(model) == {"model.txt": b"trained model\n"}

    # What the SDK sent arrived: the existing S3 prefix as the channel, hyperparameters as str(v).
    [channel] = description["InputDataConfig"]
    assert channel["ChannelName"] == "train"
    assert channel["ContentType"] == "text/csv"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == TRAIN_PREFIX
    assert description["HyperParameters"] == {"epochs": "3"}
    assert description["Environment"] == behaviour("complete")


# --- 2. failure -------------------------------------------------------------------------------------

def test_fit_of_a_failing_job_raises_unexpected_status_with_the_failure_reason(
        sdk, trainyard, session, make_estimator, docker_jobs, capsys):
    job = docker_jobs.name("sdk-fail")
    estimator = make_estimator(behaviour("fail-with-file", TRAINYARD_TEST_FAILURE_TEXT="loss diverged at epoch 2"))

    with pytest.raises(sdk.exceptions.UnexpectedStatusException) as excinfo:
        estimator.fit(job_name=job, logs=True, wait=True)

    message = str(excinfo.value)
    assert f"Error for Training job {job}: Failed. Reason: AlgorithmError: loss diverged at epoch 2." in message
    assert excinfo.value.actual_status == "Failed"
    assert not isinstance(excinfo.value, sdk.exceptions.CapacityError)
    out = capsys.readouterr().out
    assert "failing with a failure file\n" in out
    assert re.search(status_line("Failed", ""), out), out
    assert session.describe_training_job(job)["FailureReason"] == "AlgorithmError: loss diverged at epoch 2"


# --- 3. attach ----------------------------------------------------------------------------------------

def test_attach_to_a_finished_job_rebuilds_the_estimator_from_describe(
        sdk, trainyard, session, make_estimator, docker_jobs):
    job = docker_jobs.name("sdk-attach")
    original = make_estimator(behaviour("complete"), hyperparameters={"epochs": 3, "lr": 0.1},
                              volume_size=5, max_run=600, tags=[{"Key": "team", "Value": "vision"}])
    original.fit({"train": dataset(trainyard)}, job_name=job, wait=False)
    wait_for_status(session.sagemaker_client, job, timeout=60)

    attached = sdk.estimator.Estimator.attach(job, sagemaker_session=session)

    assert attached.latest_training_job.name == job
    assert attached.role == ROLE
    assert attached.image_uri == TEST_IMAGE
    assert (attached.instance_count, attached.instance_type) == (1, "ml.m5.large")
    assert (attached.volume_size, attached.max_run, attached.input_mode) == (5, 600, "File")
    assert attached.output_path == OUTPUT
    assert attached.output_kms_key == ""
    assert attached.base_job_name == sdk.utils.base_from_name(job)
    assert attached.hyperparameters() == {"epochs": "3", "lr": "0.1"}
    assert {"Key": "team", "Value": "vision"} in attached.tags
    assert attached.model_data == f"{OUTPUT}/{job}/output/model.tar.gz"
    assert s3_path(trainyard, attached.model_data).is_file()


# --- 4. fit(wait=False), then logs --------------------------------------------------------------------

def test_logs_for_job_tails_a_running_job_and_returns_when_it_ends(
        sdk, trainyard, session, make_estimator, docker_jobs, capsys):
    job = docker_jobs.name("sdk-tail")
    ticks = 10
    # About 10 s of training: still running at logs_for_job's first describe (5 s in), done long
    # before its next one (30 s later).
    estimator = make_estimator(behaviour("ticker", TRAINYARD_TEST_TICKS=ticks, TRAINYARD_TEST_TICK_SECONDS=1))
    estimator.fit(job_name=job, wait=False)
    assert session.describe_training_job(job)["TrainingJobStatus"] == "InProgress"
    capsys.readouterr()

    session.logs_for_job(job, wait=True, poll=1)
    returned_at = time.time()
    out = capsys.readouterr().out

    description = session.describe_training_job(job)
    assert description["TrainingJobStatus"] == "Completed"
    assert returned_at >= description["TrainingEndTime"].timestamp()
    # Every tick, once each, was printed while the SDK still believed the job was running: before
    # the Uploading and Completed transitions it only learns of at its next describe.
    tick_lines = [rf"tick {i}\n" for i in range(1, ticks + 1)]
    positions_in_order(out, tick_lines + [
        status_line("Uploading", "Uploading generated training model"),
        status_line("Completed", "Training job completed"),
        r"Training seconds: \d+\n"])
    assert re.findall(r"tick \d+\n", out) == [f"tick {i}\n" for i in range(1, ticks + 1)], out


def test_estimator_logs_of_a_finished_job_prints_a_long_log_once_across_pages(
        sdk, trainyard, session, make_estimator, docker_jobs, capsys):
    """Estimator.logs() after fit(wait=False), once the job has ended: 25,000 lines, more than one
    GetLogEvents page (10,000 events), which the SDK walks with nextForwardToken and startTime
    together until a page comes back empty."""
    job = docker_jobs.name("sdk-chatty")
    lines = 25000
    estimator = make_estimator(behaviour("chatty", TRAINYARD_TEST_LINES=lines))
    estimator.fit(job_name=job, wait=False)
    wait_for_status(session.sagemaker_client, job, timeout=60)
    capsys.readouterr()

    estimator.logs()
    out = capsys.readouterr().out

    numbers = [int(n) for n in re.findall(r"line (\d+)\n", out)]
    assert len(numbers) == lines, (len(numbers), out[:500])
    assert numbers == list(range(1, lines + 1))
    assert re.search(status_line("Completed", "Training job completed"), out), out[:500]
    assert re.search(r"Training seconds: \d+\n", out), out[-500:]


# --- 5. MetricDefinitions -----------------------------------------------------------------------------

def test_metric_definitions_reach_final_metric_data_list(sdk, trainyard, session, make_estimator, docker_jobs,
                                                          capsys):
    job = docker_jobs.name("sdk-metrics")
    definitions = [{"Name": "loss", "Regex": "loss=([0-9.]+)"}, {"Name": "epoch", "Regex": r"epoch=(\d+)"}]
    estimator = make_estimator(behaviour("complete"), metric_definitions=definitions)

    # logs=False: the SDK's other wait loop (wait_for_job, a describe every 5 s).
    estimator.fit(job_name=job, logs=False, wait=True)
    out = capsys.readouterr().out
    assert re.search(status_line("Completed", "Training job completed"), out), out

    description = estimator.latest_training_job.describe()
    assert description["AlgorithmSpecification"]["MetricDefinitions"] == definitions
    finals = {metric["MetricName"]: metric for metric in description["FinalMetricDataList"]}
    assert set(finals) == {"loss", "epoch"}
    assert finals["loss"]["Value"] == pytest.approx(0.5)
    assert finals["epoch"]["Value"] == pytest.approx(3.0)
    for metric in finals.values():
        assert description["TrainingStartTime"] <= metric["Timestamp"] <= description["TrainingEndTime"]
