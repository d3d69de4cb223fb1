"""`--runtime swarm` on a real 2-node Docker Swarm (issue 14): jobs run as Swarm services on the
remote (worker) node and end exactly as on the Docker runtime — completion, FailureReason, a stop
with SIGTERM then SIGKILL after the window, MaxRuntimeInSeconds — with their logs in CloudWatch
Logs; two hosts of one job talk over the job's overlay network across both nodes; an ECR image URI
is pulled by the node from --registry; a server killed with SIGKILL mid-job adopts its service
after a restart. After every test no trainyard service or network is left on the manager, and no
staging volume with anything in it on either node.

Every job here runs with `--workspace-staging api`, the swarm default: its /opt/ml reaches the node
in node-local volumes filled and emptied by helper services through the server's API, which
listens on the test swarm's bridge address (10.199.0.1) for that; the staging image comes from the
test registry. No training service has a bind mount.

The swarm comes from the session fixture `swarm_cluster` (scripts/swarm/up.sh / down.sh).
"""
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import (ACCOUNT, TEST_IMAGE, behaviour, job_output_dir, job_request, read_tarball, wait_for,
                      wait_for_status)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
GRACE = 2


def engine(socket, *args, check=True):
    result = subprocess.run(["docker", "-H", socket, *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr}")
    return result.stdout


def trainyard_services(cluster):
    return engine(cluster["MANAGER"], "service", "ls", "--filter", "label=trainyard.job", "--format", "{{.Name}}").split()


def trainyard_networks(cluster):
    return engine(cluster["MANAGER"], "network", "ls", "--filter", "label=trainyard.job", "--format", "{{.Name}}").split()


def staging_volumes_with_data(cluster):
    """`node socket: [volume]` of staging volumes (label trainyard.staging.container) that are not
    empty, on both nodes (their data roots are on this machine's filesystem)."""
    found = {}
    for node in ("MANAGER", "WORKER"):
        names = engine(cluster[node], "volume", "ls", "-q", "--filter", "label=trainyard.staging.container").split()
        for name in names:
            mountpoint = engine(cluster[node], "volume", "inspect", "--format", "{{.Mountpoint}}", name, check=False).strip()
            if mountpoint and os.path.isdir(mountpoint) and os.listdir(mountpoint):
                found.setdefault(node, []).append(name)
    return found


def remove_staging_volumes(cluster):
    for node in ("MANAGER", "WORKER"):
        names = engine(cluster[node], "volume", "ls", "-q", "--filter", "label=trainyard.staging.container").split()
        if names:
            engine(cluster[node], "volume", "rm", "-f", *names, check=False)


def service_mounts(cluster, service):
    spec = json.loads(engine(cluster["MANAGER"], "service", "inspect", "--format", "{{json .Spec}}", service))
    return spec["TaskTemplate"]["ContainerSpec"].get("Mounts", [])


def model_files(server, name, bucket="bucket"):
    """{name: bytes} of the job's model.tar.gz, downloaded through the S3 API with boto3."""
    body = server.client("s3").get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}


def task_nodes(cluster, job_name):
    """Node hostname of each of the job's training services' tasks, by service name."""
    nodes = {}
    names = engine(cluster["MANAGER"], "service", "ls", "--filter", f"label=trainyard.job={job_name}",
                   "--format", "{{.Name}}").split()
    for name in names:
        if name.endswith(("-stage-in", "-stage-out")):
            continue  # a staging helper, pinned to the same node
        out = engine(cluster["MANAGER"], "service", "ps", name, "--format", "{{.Node}}", check=False).split()
        if out:
            nodes[name] = out[0]
    return nodes


@pytest.fixture
def swarm_server(swarm_cluster, server_factory):
    """Starts swarm-runtime servers against the test swarm's manager; after the test, every service
    and network the test's jobs made must be gone from the manager."""
    checks = {"volumes": True}

    def make(extra_args=(), data_dir=None, constraint="node.role==worker"):
        args = ["--docker-host", swarm_cluster["MANAGER"], "--stop-grace-seconds", str(GRACE), "--log-level", "debug",
                "--registry", swarm_cluster["REGISTRY"]]
        if constraint:
            args += ["--swarm-constraint", constraint]
        # On the bridge address: the nodes' staging helpers fetch and send the workspace there.
        return server_factory(runtime="swarm", extra_args=args + list(extra_args), data_dir=data_dir,
                              host=swarm_cluster["REGISTRY"].split(":")[0])

    make.checks = checks
    # A dead node's leftovers (the node-death test) may outlive their test while its containers go.
    before = {node: set(names) for node, names in staging_volumes_with_data(swarm_cluster).items()}
    yield make
    def leftovers():
        return trainyard_services(swarm_cluster) + trainyard_networks(swarm_cluster)

    def new_volumes_with_data():
        return {node: set(names) - before.get(node, set())
                for node, names in staging_volumes_with_data(swarm_cluster).items()
                if set(names) - before.get(node, set())}
    try:
        wait_for(lambda: not leftovers(), timeout=20, message="no trainyard service or network left on the manager")
        if checks["volumes"]:
            assert not new_volumes_with_data(), "staging volumes with data left on a node"
    except AssertionError:
        raise AssertionError(f"left on the manager: {leftovers()}; volumes with data: {new_volumes_with_data()}")
    finally:
        for name in trainyard_services(swarm_cluster):
            engine(swarm_cluster["MANAGER"], "service", "rm", name, check=False)
        remove_staging_volumes(swarm_cluster)


def log_lines(server, name):
    logs = server.client("logs")
    lines = {}
    try:
        streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=name + "/")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return lines  # no line stored yet: the group does not exist
    for stream in streams:
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True)
        lines[stream["logStreamName"].split("/")[1].rsplit("-", 1)[0]] = [event["message"] for event in events["events"]]
    return lines


def wait_for_log(server, name, text, host="algo-1", timeout=60):
    wait_for(lambda: text in log_lines(server, name).get(host, []), timeout=timeout, message=f"{name} to log {text!r}")


def unique(base):
    return f"{base}-{time.time_ns() % 10**8}"


def test_completes_on_the_worker_node_with_logs(swarm_cluster, swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-complete")
    sm.create_training_job(**job_request(name, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=2),
                                         AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                                                 "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]}))
    wait_for(lambda: task_nodes(swarm_cluster, name), timeout=30, message="the job's service to have a task")
    assert set(task_nodes(swarm_cluster, name).values()) == {swarm_cluster["WORKER_HOSTNAME"]}

    job = wait_for_status(sm, name, timeout=60)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.5)]
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"model.txt": b"trained model\n"}
    lines = log_lines(server, name)["algo-1"]
    assert "training complete" in lines and "a line on stderr" in lines


def test_inputs_and_model_travel_through_the_s3_api_to_the_worker_node(swarm_cluster, swarm_server):
    """An input channel uploaded with boto3 reaches the remote node through a stage-in helper; the
    model comes back through a stage-out helper and is downloaded with boto3. The training service
    has volumes only, no bind mount of the server's folders."""
    server = swarm_server()
    sm = server.client()
    s3 = server.client("s3")
    s3.create_bucket(Bucket="swarm-data")
    s3.put_object(Bucket="swarm-data", Key="train/part-1.csv", Body=b"1,2,3\n")
    s3.put_object(Bucket="swarm-data", Key="train/deep/part-2.csv", Body=b"4,5,6\n")
    name = unique("sw-staged")
    script = ("set -e; cat /opt/ml/input/data/train/part-1.csv /opt/ml/input/data/train/deep/part-2.csv > /opt/ml/model/data.txt; "
              "cp /opt/ml/input/config/hyperparameters.json /opt/ml/model/; hostname > /opt/ml/model/host.txt; "
              "echo ready; sleep 3")
    sm.create_training_job(**job_request(
        name, HyperParameters={"epochs": "3"},
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["/bin/sh", "-c", script]},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://swarm-data/train/"}}}]))
    wait_for_log(server, name, "ready")
    assert set(task_nodes(swarm_cluster, name).values()) == {swarm_cluster["WORKER_HOSTNAME"]}
    training = list(task_nodes(swarm_cluster, name))
    assert len(training) == 1
    mounts = service_mounts(swarm_cluster, training[0])
    assert {mount["Type"] for mount in mounts} == {"volume", "tmpfs"}, mounts
    assert sorted(mount["Target"] for mount in mounts if mount["Type"] == "volume") == [
        "/opt/ml/checkpoints", "/opt/ml/input", "/opt/ml/model", "/opt/ml/output"]

    job = wait_for_status(sm, name, timeout=90)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(server, name)
    assert files["data.txt"] == b"1,2,3\n4,5,6\n"
    assert json.loads(files["hyperparameters.json"]) == {"epochs": "3"}
    assert files["host.txt"] == b"algo-1\n"


def test_no_node_matching_the_constraints_fails_the_job_at_once(swarm_server):
    """Staging pins each host to a node before anything runs: with no node to pin to, the job fails
    with the reason instead of waiting pending (and nothing is left on the swarm)."""
    server = swarm_server(constraint="node.labels.trainyard-test-none==yes")
    sm = server.client()
    name = unique("sw-nonode")
    sm.create_training_job(**job_request(name, Environment=behaviour("complete")))

    job = wait_for_status(sm, name, timeout=30)

    assert job["TrainingJobStatus"] == "Failed"
    assert "no ready, active swarm node matches the placement constraints" in job["FailureReason"], job["FailureReason"]


def test_a_job_that_does_not_fit_waits_pending_until_the_node_is_free(swarm_cluster, swarm_server):
    """Cluster capacity: with the worker as the only eligible node, an ml.m5.4xlarge host (64 GiB,
    capped at the worker's memory, which is this machine's) takes the whole node, so a second such
    job waits InProgress/Pending while the first runs (no service of it on the swarm), then runs
    once the first has ended."""
    worker_memory = int(engine(swarm_cluster["MANAGER"], "node", "inspect", swarm_cluster["WORKER_HOSTNAME"],
                               "--format", "{{.Description.Resources.MemoryBytes}}").strip())
    assert worker_memory < 128 << 30, f"the worker has {worker_memory} bytes: two 64 GiB hosts would fit"
    server = swarm_server()
    sm = server.client()
    first, second = unique("sw-cap-first"), unique("sw-cap-second")
    big = {"InstanceType": "ml.m5.4xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    sm.create_training_job(**job_request(first, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=8),
                                         ResourceConfig=big))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=first)["SecondaryStatus"] == "Training", timeout=60,
             message="the first job to train")
    sm.create_training_job(**job_request(second, Environment=behaviour("complete"), ResourceConfig=big))

    waiting = wait_for(lambda: (lambda job: job if job["SecondaryStatus"] == "Pending" else None)(
        sm.describe_training_job(TrainingJobName=second)), timeout=30, message="the second job to wait Pending")
    assert waiting["TrainingJobStatus"] == "InProgress"
    assert sm.describe_training_job(TrainingJobName=first)["TrainingJobStatus"] == "InProgress"
    assert not [name for name in trainyard_services(swarm_cluster) if second in name]

    done = wait_for_status(sm, second, timeout=120)
    ran_first = sm.describe_training_job(TrainingJobName=first)
    assert ran_first["TrainingJobStatus"] == "Completed", ran_first.get("FailureReason")
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    assert [t["Status"] for t in done["SecondaryStatusTransitions"]] == [
        "Starting", "Pending", "Downloading", "Training", "Uploading", "Completed"]
    assert done["SecondaryStatusTransitions"][0]["StatusMessage"] == "Preparing the instances for training"
    assert done["TrainingStartTime"] >= ran_first["TrainingEndTime"]
    started_after_end = (done["TrainingStartTime"] - ran_first["TrainingEndTime"]).total_seconds()
    print(f"second job left Pending {started_after_end:.2f} s after the first ended")
    # Woken by the first job's end (slotsFreed), not only by the 5 s poll.
    assert started_after_end < 5, started_after_end


def test_failure_file_gives_the_docker_runtimes_reason(swarm_server):
    server = swarm_server()
    sm = server.client()
    with_file = unique("sw-fail-file")
    plain = unique("sw-fail-exit")
    sm.create_training_job(**job_request(with_file, Environment=behaviour(
        "fail-with-file", TRAINYARD_TEST_FAILURE_TEXT="ValueError: bad input")))
    sm.create_training_job(**job_request(plain, Environment=behaviour("fail", TRAINYARD_TEST_EXIT_CODE=3)))

    jobs = {name: wait_for_status(sm, name, timeout=60) for name in (with_file, plain)}

    assert jobs[with_file]["FailureReason"] == "AlgorithmError: ValueError: bad input"
    assert jobs[plain]["FailureReason"] == "AlgorithmError: Exit Code: 3"
    assert read_tarball(job_output_dir(server, with_file) / "model.tar.gz") == {"partial.txt": b"partial model\n"}


def test_stop_with_trapped_sigterm_saves_the_model(swarm_cluster, swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-stop")
    sm.create_training_job(**job_request(name, Environment=behaviour("trap-term")))
    wait_for_log(server, name, "ready")
    assert set(task_nodes(swarm_cluster, name).values()) == {swarm_cluster["WORKER_HOSTNAME"]}

    started = time.monotonic()
    sm.stop_training_job(TrainingJobName=name)
    job = wait_for_status(sm, name, timeout=60)
    took = time.monotonic() - started

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"saved-on-sigterm": b"saved\n"}
    # Logged by the SIGTERM handler on the worker node, just before Swarm reaped the container.
    assert "got SIGTERM" in log_lines(server, name)["algo-1"]
    assert took < GRACE + 10, f"a handled SIGTERM must not wait for the window: {took:.2f} s"


def test_ignored_sigterm_is_followed_by_sigkill_after_the_window(swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-ignore")
    sm.create_training_job(**job_request(name, Environment=behaviour("ignore-term")))
    wait_for_log(server, name, "ready")

    started = time.monotonic()
    sm.stop_training_job(TrainingJobName=name)
    wait_for_log(server, name, "ignoring SIGTERM")
    job = wait_for_status(sm, name, timeout=60)
    took = time.monotonic() - started

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"sigterm-ignored": b"ignored SIGTERM\n"}
    assert took >= GRACE, f"SIGKILL only after the {GRACE} s window: stopped after {took:.2f} s"


def test_max_runtime_stops_the_job(swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-maxrt")
    sm.create_training_job(**job_request(name, Environment=behaviour("trap-term"),
                                         StoppingCondition={"MaxRuntimeInSeconds": 3}))

    job = wait_for_status(sm, name, timeout=60)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "got SIGTERM" in log_lines(server, name)["algo-1"]


def test_two_hosts_talk_over_tcp_across_both_nodes(swarm_cluster, swarm_server):
    # No constraint: the hosts are pinned round-robin over both nodes (SwarmPlacement).
    server = swarm_server(constraint=None)
    sm = server.client()
    name = unique("sw-two")
    script = ("if [ \"$(hostname)\" = algo-1 ]; then echo listening; nc -l -p 9999 > /tmp/got; echo \"received: $(cat /tmp/got)\"; "
              "else sleep 3; echo \"hello from $(hostname)\" | nc -w 10 algo-1 9999; echo sent; fi")
    sm.create_training_job(**job_request(
        name,
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["/bin/sh", "-c", script]},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30}))
    wait_for(lambda: len(task_nodes(swarm_cluster, name)) == 2, timeout=30, message="both hosts placed")
    assert set(task_nodes(swarm_cluster, name).values()) == {swarm_cluster["WORKER_HOSTNAME"], swarm_cluster["MANAGER_HOSTNAME"]}
    for service in task_nodes(swarm_cluster, name):
        assert {mount["Type"] for mount in service_mounts(swarm_cluster, service)} <= {"volume", "tmpfs"}

    job = wait_for_status(sm, name, timeout=90)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    lines = log_lines(server, name)
    assert "received: hello from algo-2" in lines["algo-1"]
    assert "sent" in lines["algo-2"]


def test_ecr_image_uri_is_pulled_from_the_registry(swarm_cluster, swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-ecr")
    image = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/busybox:latest"
    sm.create_training_job(**job_request(name, AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"}))

    job = wait_for_status(sm, name, timeout=90)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AlgorithmSpecification"]["TrainingImage"] == image
    pulled = engine(swarm_cluster["WORKER"], "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert f"{swarm_cluster['REGISTRY']}/busybox:latest" in pulled


def test_killed_server_adopts_its_service_after_a_restart(swarm_server):
    server = swarm_server()
    sm = server.client()
    name = unique("sw-recover")
    sm.create_training_job(**job_request(name, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=6)))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training", timeout=60,
             message=f"{name} to be Training")

    server.kill()
    server.start()
    sm = server.client()
    job = wait_for_status(sm, name, timeout=60)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"model.txt": b"trained model\n"}
    assert "training complete" in log_lines(server, name)["algo-1"]


def test_a_node_that_dies_mid_job_fails_it_with_internal_server_error(swarm_cluster, swarm_server):
    """The worker's engine is frozen (SIGSTOP: it stops answering the manager, as a machine that
    lost power would) while a job runs there; the manager marks the node down and the job fails with
    the InternalServerError that SageMaker gives a job whose instance failed. The engine is thawed
    afterwards and the node rejoins; a restarted server removes what the failure left."""
    server = swarm_server()
    # The dead node's volumes were never staged out (nothing can reach them).
    swarm_server.checks["volumes"] = False
    sm = server.client()
    name = unique("sw-node-dies")
    sm.create_training_job(**job_request(name, Environment=behaviour("trap-term")))
    wait_for_log(server, name, "ready")
    worker_pid = int(open(swarm_cluster["WORKER_PIDFILE"]).read().strip())
    os.kill(worker_pid, signal.SIGSTOP)
    try:
        job = wait_for_status(sm, name, timeout=90)
    finally:
        os.kill(worker_pid, signal.SIGCONT)
    wait_for(lambda: "Down" not in engine(swarm_cluster["MANAGER"], "node", "ls", "--format", "{{.Status}}"),
             timeout=60, message="the worker node to be Ready again")

    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        f"InternalServerError: The instance running algo-1 failed during training (Swarm node {swarm_cluster['WORKER_HOSTNAME']} is down)"), \
        job["FailureReason"]
    # Anything the dead node held up (its overlay network) goes at the next start at the latest.
    server.restart()
    # Its volumes on the thawed worker: held until the node has removed the old container (whose
    # SIGTERM handler may still write a model into them); then gone, so no later test sees them.
    wait_for(lambda: not engine(swarm_cluster["WORKER"], "ps", "-aq", "--filter", f"label=trainyard.job={name}").split(),
             timeout=60, message="the dead task's container to be removed from the worker")
    volumes = engine(swarm_cluster["WORKER"], "volume", "ls", "-q", "--filter", f"label=trainyard.job={name}").split()
    if volumes:
        engine(swarm_cluster["WORKER"], "volume", "rm", *volumes)


def test_bind_staging_stays_possible_where_nodes_share_the_servers_paths(swarm_cluster, swarm_server):
    """`--workspace-staging bind`: the old way, for a cluster whose nodes all have the server's data
    directory (the test worker shares this machine's filesystem): bind mounts, no helper."""
    server = swarm_server(extra_args=["--workspace-staging", "bind"])
    sm = server.client()
    name = unique("sw-bind")
    sm.create_training_job(**job_request(name, Environment=behaviour("complete", TRAINYARD_TEST_DELAY_SECONDS=3)))
    wait_for(lambda: task_nodes(swarm_cluster, name), timeout=30, message="the job's service to have a task")
    services = list(task_nodes(swarm_cluster, name))
    assert len(services) == 1
    assert "bind" in {mount["Type"] for mount in service_mounts(swarm_cluster, services[0])}

    job = wait_for_status(sm, name, timeout=60)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert read_tarball(job_output_dir(server, name) / "model.tar.gz") == {"model.txt": b"trained model\n"}


def test_api_staging_on_a_swarm_needs_a_registry(tmp_path):
    """Nodes pull the staging image from --registry: without one the server refuses to start, in
    one line that says what to do."""
    from conftest import BINARY
    result = subprocess.run([BINARY, "serve", "--runtime", "swarm", "--port", "0", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--runtime swarm stages workspaces through the API and needs --registry HOST:PORT" in result.stderr, result.stderr
