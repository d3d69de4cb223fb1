"""What a training container reaches (issue 11 items 1 and 6), measured from inside containers.

- every `algo-N` of the job resolves inside its container, also with network `none`;
- a job that is not network-isolated reaches Trainyard at 127.0.0.1:<server port> inside its own
  network namespace (the S3 gateway), with its job's own keys, and nothing else: not a host
  service on the host's 127.0.0.1, not another job's container, no route anywhere;
- a network-isolated job reaches nothing, not even the gateway, and gets no credentials.

Scripts run in the busybox test image, passed in through a file:// channel.
"""
import socket
import pytest

from conftest import TEST_IMAGE, job_request, wait_for, wait_for_status
from toolkit_support import toolkit_image  # noqa: F401 (a fixture)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def script_job(tmp_path, name, script, image=TEST_IMAGE, **overrides):
    """A CreateTrainingJob request that runs `script` with /bin/sh in `image`."""
    folder = tmp_path / f"script-{name}"
    folder.mkdir()
    (folder / "run.sh").write_text(script)
    return job_request(
        name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["/bin/sh", "/opt/ml/input/data/script/run.sh"]},
        InputDataConfig=[{"ChannelName": "script", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{folder}"}}}],
        StoppingCondition={"MaxRuntimeInSeconds": 120},
        **overrides)


def log_lines(server, name):
    logs = server.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:  # no job has printed a line yet
        return []
    if not streams:
        return []
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=streams[0]["logStreamName"],
                                 startFromHead=True)["events"]
    return [event["message"] for event in events]


def finished_lines(server, name):
    job = wait_for_status(server.client(), name, timeout=90)
    lines = log_lines(server, name)
    assert job["TrainingJobStatus"] == "Completed", (job.get("FailureReason"), lines)
    return lines


# Connects to 127.0.0.1:$1 from inside the container and prints "open" or "refused" (busybox nc has
# no -z: an immediate EOF on stdin closes a connection that was made).
PROBE = """
probe() { if nc 127.0.0.1 "$1" </dev/null >/dev/null 2>&1; then echo open; else echo refused; fi; }
"""

# The gateway appears once the container runs (its namespace exists only then): a bounded loop of
# connection attempts, each answered at once, waits for it as an SDK's retries would.
WAIT_FOR_GATEWAY = """
i=0; while [ $i -lt 5000 ] && [ "$(probe $GATEWAY_PORT)" != open ]; do i=$((i+1)); done
"""


@pytest.fixture
def host_listener():
    """A service on the host's loopback, which no container may reach."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_algo_hosts_resolve_with_network_none(docker_server, docker_jobs, tmp_path):
    server = docker_server
    sm = server.client()
    name = docker_jobs.name("hosts")
    sm.create_training_job(**script_job(tmp_path, name, """
        echo "hosts: $(grep -w algo-1 /etc/hosts)"
        ping -c1 -W2 algo-1 >/dev/null 2>&1 && echo "ping algo-1: ok"
        echo "interfaces: $(ls /sys/class/net)"
        """, EnableNetworkIsolation=True))
    lines = finished_lines(server, name)
    assert "hosts: 127.0.0.1\talgo-1" in lines, lines
    assert "ping algo-1: ok" in lines, lines
    assert "interfaces: lo" in lines, lines


def test_getent_resolves_algo_1_in_a_glibc_image(docker_server, docker_jobs, tmp_path, toolkit_image):
    """`getent hosts` goes through glibc's resolver (nsswitch), as the toolkit's socket.gethostbyname does."""
    server = docker_server
    sm = server.client()
    name = docker_jobs.name("getent")
    sm.create_training_job(**script_job(tmp_path, name, """
        echo "getent: $(getent hosts algo-1)"
        python3 -c 'import socket; print("python:", socket.gethostbyname("algo-1"))'
        """, image=toolkit_image))
    lines = finished_lines(server, name)
    assert any(line.split() == ["getent:", "127.0.0.1", "algo-1"] for line in lines), lines
    assert "python: 127.0.0.1" in lines, lines


def test_container_reaches_its_gateway_and_nothing_else(docker_server, docker_jobs, tmp_path, host_listener):
    server = docker_server
    sm = server.client()
    holder = docker_jobs.name("holder")
    prober = docker_jobs.name("prober")
    isolated = docker_jobs.name("isolated")
    gateway_port = server.port

    # Job A listens on 7001 inside its own namespace until stopped.
    sm.create_training_job(**script_job(tmp_path, holder, PROBE + """
        nc -ll -p 7001 -e /bin/true >/dev/null 2>&1 &
        i=0; while [ $i -lt 5000 ] && [ "$(probe 7001)" != open ]; do i=$((i+1)); done
        echo "holder listening: $(probe 7001)"
        trap 'exit 0' TERM
        sleep 300 & wait
        """))
    wait_for(lambda: "holder listening: open" in log_lines(server, holder), timeout=60, interval=0.2,
             message="job A listening")

    # Job B: its gateway answers; A's port, the host's loopback service and every other address do not.
    sm.create_training_job(**script_job(tmp_path, prober, PROBE + WAIT_FOR_GATEWAY + f"""
        echo "gateway: $(probe $GATEWAY_PORT)"
        echo "other job's port: $(probe 7001)"
        echo "host loopback service: $(probe {host_listener})"
        echo "routes: [$(ip route)]"
        echo "interfaces: $(ls /sys/class/net)"
        echo "unsigned: $(printf 'GET /health HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 $GATEWAY_PORT | head -1 | tr -d "\\r")"
        echo "endpoint: $AWS_ENDPOINT_URL_S3 $S3_ENDPOINT_URL $AWS_ENDPOINT_URL"
        echo "key: $AWS_ACCESS_KEY_ID"
        """, Environment={"GATEWAY_PORT": str(gateway_port)}))
    lines = finished_lines(server, prober)
    endpoint = f"http://127.0.0.1:{gateway_port}"
    assert "gateway: open" in lines, lines
    assert "other job's port: refused" in lines, lines
    assert "host loopback service: refused" in lines, lines
    assert "routes: []" in lines, lines
    assert "interfaces: lo" in lines, lines
    # Relayed requests must be signed with the job's key: the server's own pages are out of reach.
    assert "unsigned: HTTP/1.0 403 Forbidden" in lines, lines
    assert f"endpoint: {endpoint} {endpoint} {endpoint}" in lines, lines
    key_lines = [line for line in lines if line.startswith("key: AKIA")]
    assert len(key_lines) == 1 and len(key_lines[0].split()[1]) == 20, lines

    # A network-isolated job: no gateway, no credentials, no endpoint.
    sm.create_training_job(**script_job(tmp_path, isolated, PROBE + f"""
        nc -ll -p 7002 -e /bin/true >/dev/null 2>&1 &
        i=0; while [ $i -lt 5000 ] && [ "$(probe 7002)" != open ]; do i=$((i+1)); done
        echo "own port: $(probe 7002)"
        echo "gateway: $(probe $GATEWAY_PORT)"
        echo "credentials: [$AWS_ACCESS_KEY_ID$AWS_SECRET_ACCESS_KEY$AWS_ENDPOINT_URL]"
        kill %1 2>/dev/null
        """, Environment={"GATEWAY_PORT": str(gateway_port)}, EnableNetworkIsolation=True))
    lines = finished_lines(server, isolated)
    # The container's own listener is reachable, which shows the probe would see an open port.
    assert "own port: open" in lines and "gateway: refused" in lines, lines
    assert "credentials: []" in lines, lines

    sm.stop_training_job(TrainingJobName=holder)
    assert wait_for_status(sm, holder, timeout=60)["TrainingJobStatus"] == "Stopped"




TRAIN_PY = '''
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
args = parser.parse_args()
print("epochs=%d lr=%s host=%s hosts=%s" % (args.epochs, args.lr, os.environ["SM_CURRENT_HOST"], os.environ["SM_HOSTS"]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"epochs": args.epochs, "hps": json.loads(os.environ["SM_HPS"])}, f)
'''


def test_toolkit_image_trains_with_network_none(docker_server, docker_jobs, tmp_path, toolkit_image):
    """An image built on sagemaker-training runs `train` as SageMaker starts it: the toolkit waits until
    every host resolves (it used to hang 15 minutes on algo-1 and fail with gaierror), then runs the
    entry point from the submit directory with the hyperparameters as arguments."""
    from conftest import job_output_dir, read_tarball
    import json

    server = docker_server
    sm = server.client()
    name = docker_jobs.name("toolkit")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    sm.create_training_job(**job_request(
        name,
        AlgorithmSpecification={"TrainingImage": toolkit_image, "TrainingInputMode": "File"},
        # As framework estimators send them: each value JSON-encoded (sagemaker-semantics §1.3).
        HyperParameters={"epochs": "3", "lr": "0.01", "sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": '"/opt/ml/input/data/code"',
                         "sagemaker_container_log_level": "20"},
        InputDataConfig=[{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{code}"}}}],
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        EnableNetworkIsolation=True))
    lines = finished_lines(server, name)
    assert any('epochs=3 lr=0.01 host=algo-1 hosts=["algo-1"]' in line for line in lines), lines
    model = json.loads(read_tarball(job_output_dir(server, name) / "model.tar.gz")["model.json"])
    assert model == {"epochs": 3, "hps": {"epochs": 3, "lr": 0.01}}


def test_gateway_is_attached_again_after_a_restart(docker_server, docker_jobs, tmp_path):
    """The gateway lives in the server process; a restarted server that adopts a running container
    places it again, and the container reaches S3 as before."""
    from conftest import container_output

    server = docker_server
    sm = server.client()
    name = docker_jobs.name("gateway-restart")
    # Prints each change of the gateway's state: open (server up), refused (server down), open
    # (adopted by the restarted server); polls every 20 ms.
    sm.create_training_job(**script_job(tmp_path, name, PROBE + WAIT_FOR_GATEWAY + """
        state=$(probe $GATEWAY_PORT); echo "gateway: $state"; changes=1
        while [ $changes -lt 3 ]; do
            now=$(probe $GATEWAY_PORT)
            if [ "$now" != "$state" ]; then echo "gateway: $now"; state=$now; changes=$((changes+1)); fi
            usleep 20000
        done
        """, Environment={"GATEWAY_PORT": str(server.port)}))

    def changes():
        return [line for line in container_output(name).splitlines() if line.startswith("gateway: ")]

    wait_for(lambda: changes()[:1] == ["gateway: open"], timeout=60, interval=0.1, message="gateway open")
    server.kill()
    wait_for(lambda: changes()[:2] == ["gateway: open", "gateway: refused"], timeout=30, interval=0.1,
             message="gateway gone with the server")
    server.start()
    lines = finished_lines(server, name)
    assert [line for line in lines if line.startswith("gateway: ")] == [
        "gateway: open", "gateway: refused", "gateway: open"], lines


CONTAINER_S3 = r'''
import json, os, boto3, botocore.config, botocore.exceptions
config = botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"})
s3 = boto3.client("s3", config=config)
s3.put_object(Bucket="job-bucket", Key="from-container/hello.txt", Body=b"written inside the job")
body = s3.get_object(Bucket="job-bucket", Key="from-container/hello.txt")["Body"].read().decode()
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="job-bucket", Prefix="from-container/")["Contents"]]
identity = boto3.client("sts", config=config).get_caller_identity()
try:
    boto3.client("sagemaker", config=config).list_training_jobs()
    sagemaker = "allowed"
except botocore.exceptions.ClientError as error:
    sagemaker = error.response["Error"]["Code"]
print("RESULT " + json.dumps({"body": body, "keys": keys, "account": identity["Account"], "sagemaker": sagemaker,
                              "key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"]}))
'''


def test_container_reaches_s3_with_its_own_keys_revoked_when_the_job_ends(docker_server, docker_jobs, tmp_path,
                                                                           toolkit_image):
    import json

    import boto3
    import botocore.exceptions

    server = docker_server
    sm = server.client()
    name = docker_jobs.name("container-s3")
    folder = tmp_path / "s3-script"
    folder.mkdir()
    (folder / "probe.py").write_text(CONTAINER_S3)
    server.client("s3").create_bucket(Bucket="job-bucket")
    sm.create_training_job(**job_request(
        name,
        AlgorithmSpecification={"TrainingImage": toolkit_image, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["python3", "/opt/ml/input/data/script/probe.py"]},
        InputDataConfig=[{"ChannelName": "script", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{folder}"}}}],
        StoppingCondition={"MaxRuntimeInSeconds": 300}))
    lines = finished_lines(server, name)
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT "):])
    assert result["body"] == "written inside the job" and result["keys"] == ["from-container/hello.txt"]
    assert result["account"] == "123456789012"
    # The job's key is for S3 and STS only.
    assert result["sagemaker"] == "AccessDeniedException", result
    # What the container wrote is in the store, seen by every other client of the account.
    assert server.client("s3").get_object(Bucket="job-bucket", Key="from-container/hello.txt")["Body"].read() \
        == b"written inside the job"
    # The job has ended: its key is refused now.
    ended = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                         aws_access_key_id=result["key"], aws_secret_access_key=result["secret"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ended.list_objects_v2(Bucket="job-bucket")
    assert excinfo.value.response["Error"]["Code"] == "InvalidAccessKeyId"


ACCOUNT_PROBE = r'''
import json, boto3, botocore.config, botocore.exceptions
config = botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"})
s3 = boto3.client("s3", config=config)
def attempt(call):
    try:
        call()
        return "ok"
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
print("RESULT " + json.dumps({
    "own": attempt(lambda: s3.put_object(Bucket="alice-bucket", Key="k", Body=b"x")),
    "other": attempt(lambda: s3.get_object(Bucket="bob-bucket", Key="secret.txt")),
    "account": boto3.client("sts", config=config).get_caller_identity()["Account"]}))
'''


def test_job_keys_act_for_the_jobs_account_only(docker_server_factory, docker_jobs, tmp_path, toolkit_image):
    """With --auth sigv4, a container's key is its job's account's: it writes that account's
    buckets and gets AccessDenied on another account's."""
    import json

    import boto3

    alice = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111",
             "name": "alice"}
    bob = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222",
           "name": "bob"}
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [alice, bob]}))
    server = docker_server_factory(extra_args=["--auth", "sigv4", "--credentials-file", str(credentials)])

    def client(service, who):
        return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                            aws_access_key_id=who["accessKeyId"], aws_secret_access_key=who["secretAccessKey"])

    client("s3", alice).create_bucket(Bucket="alice-bucket")
    client("s3", bob).create_bucket(Bucket="bob-bucket")
    client("s3", bob).put_object(Bucket="bob-bucket", Key="secret.txt", Body=b"bob's")
    # The script goes in through Alice's own bucket: with --auth sigv4 no file:// URI is allowed.
    client("s3", alice).put_object(Bucket="alice-bucket", Key="script/probe.py", Body=ACCOUNT_PROBE.encode())
    name = docker_jobs.name("account-keys")
    sm = client("sagemaker", alice)
    sm.create_training_job(**job_request(
        name, RoleArn="arn:aws:iam::111111111111:role/Trainer",
        AlgorithmSpecification={"TrainingImage": toolkit_image, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["python3", "/opt/ml/input/data/script/probe.py"]},
        InputDataConfig=[{"ChannelName": "script", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://alice-bucket/script/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://alice-bucket/output"},
        StoppingCondition={"MaxRuntimeInSeconds": 300}))
    job = wait_for_status(sm, name, timeout=120)
    logs = client("logs", alice)
    stream = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"][0]
    lines = [event["message"] for event in logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True)["events"]]
    assert job["TrainingJobStatus"] == "Completed", (job.get("FailureReason"), lines)
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT "):])
    assert result == {"own": "ok", "other": "AccessDenied", "account": "111111111111"}, lines
