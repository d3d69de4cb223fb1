"""A 2-host job on an image built on AWS's sagemaker-training toolkit (issue 13 item 9): the
toolkit's `train` reads resourceconfig.json, waits until every host resolves, and runs the user's
script on each host; the script on algo-1 listens, algo-2 connects to it by name over the job's
network, and they exchange a message. What the toolkit saw (SM_HOSTS, SM_CURRENT_HOST,
SM_NETWORK_INTERFACE_NAME) is printed by each host and checked against its host."""
import json

from conftest import job_output_dir, job_request, read_tarball, wait_for_status
from toolkit_support import toolkit_image  # noqa: F401 (a fixture)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"

# algo-1 accepts one connection and answers; algo-2 retries its connection to algo-1 (which may
# not listen yet: hosts start within a moment of each other, DG-info advises retrying).
TRAIN_PY = r'''
import json, os, socket, time
me = os.environ["SM_CURRENT_HOST"]
print("toolkit view " + json.dumps({
    "current_host": me, "hosts": json.loads(os.environ["SM_HOSTS"]),
    "network_interface_name": os.environ["SM_NETWORK_INTERFACE_NAME"],
    "resource_config_host": json.loads(os.environ["SM_RESOURCE_CONFIG"])["current_host"]}), flush=True)
if me == "algo-1":
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 5555))
    listener.listen(1)
    listener.settimeout(120)
    connection, _ = listener.accept()
    message = connection.recv(1024).decode()
    print("algo-1 received: " + message, flush=True)
    connection.sendall(b"welcome, " + message.split()[-1].encode())
    connection.close()
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "algo-1.txt"), "w") as f:
        f.write(message)
else:
    deadline = time.time() + 60
    while True:
        try:
            connection = socket.create_connection(("algo-1", 5555), timeout=5)
            break
        except OSError as error:
            if time.time() > deadline:
                raise SystemExit("cannot reach algo-1: %s" % error)
            time.sleep(0.2)
    connection.sendall(("hello from " + me).encode())
    reply = connection.recv(1024).decode()
    print(me + " received: " + reply, flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], me + ".txt"), "w") as f:
        f.write(reply)
'''


def host_lines(server, name):
    """{host: its stream's lines} (one stream per host, <job>/algo-N-<epoch>)."""
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    result = {}
    for stream in streams:
        host = stream["logStreamName"].split("/")[1].rsplit("-", 1)[0]
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        result[host] = [event["message"] for event in events]
    return result


def test_two_toolkit_hosts_talk_by_name(docker_server, docker_jobs, tmp_path, toolkit_image):
    server = docker_server
    sm = server.client()
    name = docker_jobs.name("toolkit-2hosts")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    sm.create_training_job(**job_request(
        name,
        # No entrypoint: SageMaker's `docker run image train`, the toolkit's entry.
        AlgorithmSpecification={"TrainingImage": toolkit_image, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"/opt/ml/input/data/code"',
                         "sagemaker_container_log_level": "20"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30},
        InputDataConfig=[{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{code}"}}}],
        StoppingCondition={"MaxRuntimeInSeconds": 300}))
    job = wait_for_status(sm, name, timeout=240)
    lines = host_lines(server, name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), (job.get("FailureReason"), lines)
    assert sorted(lines) == ["algo-1", "algo-2"]
    for host in ("algo-1", "algo-2"):
        view = next(line for line in lines[host] if line.startswith("toolkit view "))
        assert json.loads(view[len("toolkit view "):]) == {
            "current_host": host, "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0",
            "resource_config_host": host}, lines[host]
    assert "algo-1 received: hello from algo-2" in lines["algo-1"], lines["algo-1"]
    assert "algo-2 received: welcome, algo-2" in lines["algo-2"], lines["algo-2"]
    # Both hosts' model folders are in the one model.tar.gz.
    model = read_tarball(job_output_dir(server, name) / "model.tar.gz")
    assert model == {"algo-1.txt": b"hello from algo-2", "algo-2.txt": b"welcome, algo-2"}
