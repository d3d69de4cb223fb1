"""Distributed jobs end to end (issue 13): InstanceCount > 1 and InstanceGroups run as one cluster of
busybox containers algo-1 … algo-N on a network of their own, driven through boto3.

Each host runs a small shell script (ContainerEntrypoint) that reads its resourceconfig.json and
talks to its peers with busybox `nc`. Peers retry their connection inside the container, as
SageMaker advises ("Hostname information may not be immediately available", DG-info); the tests
themselves only wait on observable states.
"""
import json
import subprocess

from conftest import (TEST_IMAGE, docker, instance_id, job_output_dir, job_request, read_tarball, s3_path, stored_job,
                      wait_for, wait_for_status)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


ENTRYPOINT = ["/bin/sh", "/opt/ml/input/data/code/run.sh"]


def code_channel(server, name, script):
    """The host script as a channel of its own (ContainerArguments hold 256 characters at most)."""
    folder = s3_path(server, f"s3://bucket/code/{name}/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.sh").write_text(script)
    return {"ChannelName": "code", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/code/{name}/"}}}


def cluster_request(server, name, script, count=2, environment=None, channels=(), metrics=(), **overrides):
    """A job of `count` hosts each running `script` with /bin/sh."""
    request = job_request(
        name,
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ENTRYPOINT, "MetricDefinitions": list(metrics)},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 30},
        Environment=environment or {},
        InputDataConfig=[code_channel(server, name, script), *channels],
    )
    request.update(overrides)
    return request


def job_containers(name):
    """{host: container id} of the job's containers (running or not)."""
    out = docker("ps", "-a", "--no-trunc", "--filter", f"label=trainyard.job={name}",
                 "--format", '{{.ID}} {{.Label "trainyard.host"}}').stdout
    return {host: cid for cid, host in (line.split() for line in out.splitlines() if line.strip())}


def job_networks(name):
    return docker("network", "ls", "-q", "--filter", f"label=trainyard.job={name}").stdout.split()


def host_streams(server, name):
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    return {s["logStreamName"].split("/")[1].rsplit("-", 1)[0]: s["logStreamName"] for s in streams}


def stream_lines(server, stream):
    logs = server.client("logs")
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
    return [e["message"] for e in events]


# algo-1 accepts one connection per peer and keeps what they sent; every peer sends its name and
# its resourceconfig.json to algo-1:5000 over the job network, retrying until algo-1 listens.
TALK = r"""
cfg=/opt/ml/input/config/resourceconfig.json
echo "config $(cat $cfg)"
me=$(hostname)
# A port per peer (5000 + N for algo-N): with one port, a peer that connected while algo-1 was
# still reading the other's message sat in the listen backlog, and its message was lost when that
# `nc -l` exited (its sender had already written it and exited 0).
if [ "$me" = algo-1 ]; then
  i=2
  while [ $i -le $((PEERS + 1)) ]; do nc -l -p $((5000 + i)) > /tmp/from-$i.txt & i=$((i+1)); done
  wait
  cat /tmp/from-*.txt > /opt/ml/model/received.txt
  echo "algo-1 received $(wc -l < /opt/ml/model/received.txt) lines"
else
  n=0
  until echo "hello from $me" | nc algo-1 $((5000 + ${me#algo-})); do
    n=$((n+1)); [ $n -gt 300 ] && { echo "cannot reach algo-1"; exit 7; }
    sleep 0.1
  done
  echo "sent to algo-1" > /opt/ml/model/$me.txt
fi
echo "loss=0.$(echo $me | tr -dc 0-9)"
"""


def run_talk(server, docker_jobs, count):
    sm = server.client()
    name = docker_jobs.name(f"talk{count}")
    sm.create_training_job(**cluster_request(
        server, name, TALK, count=count, environment={"PEERS": str(count - 1)},
        metrics=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}]))
    job = wait_for_status(sm, name, timeout=90)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    hosts = [f"algo-{i}" for i in range(1, count + 1)]
    # One CloudWatch stream per host, <job>/algo-N-<epoch> (DG-logs).
    streams = host_streams(server, name)
    assert sorted(streams) == hosts
    for host in hosts:
        lines = stream_lines(server, streams[host])
        config = json.loads(next(line for line in lines if line.startswith("config "))[len("config "):])
        # resourceconfig.json as SageMaker writes it for this host (DG-info; toolkit environment.py).
        assert config == {
            "current_host": host, "current_instance_type": "ml.m5.large",
            "current_group_name": "homogeneousCluster", "hosts": sorted(hosts),
            "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.large",
                                 "hosts": sorted(hosts)}],
            "network_interface_name": "eth0"}
    # Every host's /opt/ml/model is in the one model.tar.gz (DG-out).
    model = read_tarball(job_output_dir(server, name) / "model.tar.gz")
    received = sorted(model.pop("received.txt").decode().splitlines())
    assert received == sorted(f"hello from {h}" for h in hosts[1:])
    assert model == {f"{h}.txt": b"sent to algo-1\n" for h in hosts[1:]}
    # The metric is read from every host's lines; the last one printed wins.
    assert [m["MetricName"] for m in job["FinalMetricDataList"]] == ["loss"]
    assert job_containers(name) == {}
    assert job_networks(name) == [], "the job's network goes with its last container"
    return name


def test_two_hosts_talk_over_their_network(docker_server, docker_jobs):
    run_talk(docker_server, docker_jobs, 2)


def test_three_hosts_talk_over_their_network(docker_server, docker_jobs):
    run_talk(docker_server, docker_jobs, 3)


LISTEN = r"""
trap 'echo got-term; echo saved > /opt/ml/model/$(hostname)-term.txt; exit 0' TERM
if [ "$(hostname)" = algo-1 ]; then (nc -l -p 5000 > /opt/ml/model/heard.txt &) ; fi
echo ready
while true; do sleep 0.1; done
"""


def test_another_jobs_hosts_are_unreachable(docker_server, docker_jobs):
    sm = docker_server.client()
    first = docker_jobs.name("isolated-a")
    second = docker_jobs.name("isolated-b")
    sm.create_training_job(**cluster_request(docker_server, first, LISTEN))
    wait_for(lambda: len(job_containers(first)) == 2 and all(
        "ready" in docker("logs", c).stdout for c in job_containers(first).values()), timeout=60,
        message="the first job's hosts to be ready")
    info = json.loads(docker("inspect", job_containers(first)["algo-1"]).stdout)[0]
    address = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
    assert address
    # The second job's hosts try the first job's algo-1 by address, and their own algo-1 by name.
    probe = (r"""if nc -w 2 $TARGET 5000 < /dev/null; then echo reached > /opt/ml/model/$(hostname).txt; """
             r"""else echo unreachable > /opt/ml/model/$(hostname).txt; fi""")
    sm.create_training_job(**cluster_request(docker_server, second, probe, environment={"TARGET": address}))
    job = wait_for_status(sm, second, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert read_tarball(job_output_dir(docker_server, second) / "model.tar.gz") == {
        "algo-1.txt": b"unreachable\n", "algo-2.txt": b"unreachable\n"}
    sm.stop_training_job(TrainingJobName=first)
    job = wait_for_status(sm, first, timeout=30)
    model = read_tarball(job_output_dir(docker_server, first) / "model.tar.gz")
    assert model.get("heard.txt", b"") == b""


def test_stop_stops_every_host(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("stop3")
    sm.create_training_job(**cluster_request(docker_server, name, LISTEN, count=3))
    wait_for(lambda: len(job_containers(name)) == 3 and all(
        "ready" in docker("logs", c).stdout for c in job_containers(name).values()), timeout=60,
        message="every host to be ready")
    sm.stop_training_job(TrainingJobName=name)
    job = wait_for_status(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    # Every host got SIGTERM and saved in its handler; all of it is uploaded.
    model = read_tarball(job_output_dir(docker_server, name) / "model.tar.gz")
    assert {k: v for k, v in model.items() if k.endswith("-term.txt")} == {
        f"algo-{i}-term.txt": b"saved\n" for i in (1, 2, 3)}
    assert stored_job(docker_server, name)["sigkill_sent_at_ms"] is None
    assert job_containers(name) == {}
    assert job_networks(name) == []


FAIL_ON_ALGO_2 = r"""
trap 'echo got-term; exit 0' TERM
if [ "$(hostname)" = algo-2 ]; then
  printf 'boom on algo-2' > /opt/ml/output/failure
  exit 3
fi
while true; do sleep 0.1; done
"""


def test_one_failing_host_fails_the_job_and_stops_the_others(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("fail2")
    sm.create_training_job(**cluster_request(docker_server, name, FAIL_ON_ALGO_2))
    job = wait_for_status(sm, name, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    # A job of several hosts: the failing host's failure text, then its exit code (FailureReason.swift).
    assert job["FailureReason"] == "AlgorithmError: boom on algo-2, exit code: 3"
    # algo-1 was still training: it got SIGTERM (and exited on it, so no SIGKILL).
    streams = host_streams(docker_server, name)
    assert "got-term" in stream_lines(docker_server, streams["algo-1"])
    row = stored_job(docker_server, name)
    assert row["exit_code"] == 3 and row["sigterm_sent_at_ms"] is not None and row["sigkill_sent_at_ms"] is None
    assert job_containers(name) == {}
    assert job_networks(name) == []


SHARDS = r"""
me=$(hostname)
cat /opt/ml/input/config/resourceconfig.json > /opt/ml/model/$me-resourceconfig.json
cat /opt/ml/input/config/inputdataconfig.json > /opt/ml/model/$me-inputdataconfig.json
(cd /opt/ml/input/data && find . -type f | grep -v '^./code/' | sort) > /opt/ml/model/$me-files.txt
"""


def test_heterogeneous_groups_sharding_and_channel_groups(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    name = docker_jobs.name("hetero")
    shared = s3_path(docker_server, "s3://bucket/shared/")
    shared.mkdir(parents=True)
    (shared / "vocab.txt").write_text("v")
    parts = s3_path(docker_server, "s3://bucket/parts/")
    parts.mkdir(parents=True)
    for index in range(5):
        (parts / f"part-{index}.csv").write_text(str(index))
    request = cluster_request(
        docker_server, name, SHARDS,
        ResourceConfig={"VolumeSizeInGB": 30, "InstanceGroups": [
            {"InstanceGroupName": "coordinator", "InstanceType": "ml.m5.large", "InstanceCount": 1},
            {"InstanceGroupName": "workers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2}]},
        channels=[
            {"ChannelName": "shared", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/shared/"}}},
            {"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/parts/", "S3DataDistributionType": "ShardedByS3Key",
                "InstanceGroupNames": ["workers"]}}}])
    sm.create_training_job(**request)
    job = wait_for_status(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ResourceConfig"]["InstanceGroups"][1]["InstanceGroupName"] == "workers"
    model = read_tarball(job_output_dir(docker_server, name) / "model.tar.gz")
    groups = [{"instance_group_name": "coordinator", "instance_type": "ml.m5.large", "hosts": ["algo-1"]},
              {"instance_group_name": "workers", "instance_type": "ml.c5.xlarge", "hosts": ["algo-2", "algo-3"]}]
    for host, group, itype in (("algo-1", "coordinator", "ml.m5.large"), ("algo-2", "workers", "ml.c5.xlarge"),
                               ("algo-3", "workers", "ml.c5.xlarge")):
        config = json.loads(model[f"{host}-resourceconfig.json"])
        assert config == {"current_host": host, "current_instance_type": itype, "current_group_name": group,
                          "hosts": ["algo-1", "algo-2", "algo-3"], "instance_groups": groups,
                          "network_interface_name": "eth0"}
    # The train channel goes only to the workers, its objects split between them (sorted keys,
    # object i to the i mod 2-th worker); the shared channel goes everywhere, whole.
    assert model["algo-1-files.txt"].decode().split() == ["./shared/vocab.txt"]
    assert model["algo-2-files.txt"].decode().split() == [
        "./shared/vocab.txt", "./train/part-0.csv", "./train/part-2.csv", "./train/part-4.csv"]
    assert model["algo-3-files.txt"].decode().split() == [
        "./shared/vocab.txt", "./train/part-1.csv", "./train/part-3.csv"]
    assert sorted(json.loads(model["algo-1-inputdataconfig.json"])) == ["code", "shared"]
    assert json.loads(model["algo-2-inputdataconfig.json"])["train"]["S3DistributionType"] == "ShardedByS3Key"


def test_instance_groups_are_validated(docker_server):
    sm = docker_server.client()
    import botocore.exceptions
    import pytest
    bad = [
        {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30,
         "InstanceGroups": [{"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 1}]},
        {"VolumeSizeInGB": 30, "InstanceGroups": [
            {"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 1},
            {"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 1}]},
    ]
    for index, resource in enumerate(bad):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            sm.create_training_job(**job_request(f"bad-groups-{index}", ResourceConfig=resource))
        assert caught.value.response["Error"]["Code"] == "ValidationException"


RECOVER = r"""
trap 'exit 0' TERM
if [ "$(hostname)" = algo-2 ]; then echo "algo-2 done"; exit 0; fi
echo ready
until [ -e /tmp/go ]; do sleep 0.1; done
echo "algo-1 done"
"""


def test_kill_9_mid_cluster_adopts_every_host(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("recover")
    sm.create_training_job(**cluster_request(docker_server, name, RECOVER))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training", timeout=60,
             message="Training")
    wait_for(lambda: "ready" in docker("logs", job_containers(name)["algo-1"]).stdout, timeout=30,
             message="algo-1 ready")
    docker_server.kill()
    # While the server is down algo-2 has exited 0 and algo-1 still runs; then algo-1 finishes.
    wait_for(lambda: json.loads(docker("inspect", job_containers(name)["algo-2"]).stdout)[0]["State"]["Status"]
             == "exited", timeout=30, message="algo-2 to exit")
    docker_server.restart()
    sm = docker_server.client()
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    docker("exec", job_containers(name)["algo-1"], "touch", "/tmp/go")
    job = wait_for_status(sm, name, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")
    streams = host_streams(docker_server, name)
    assert "algo-1 done" in stream_lines(docker_server, streams["algo-1"])
    assert "algo-2 done" in stream_lines(docker_server, streams["algo-2"])
    assert job_containers(name) == {}
    assert job_networks(name) == []


def test_a_host_killed_behind_the_servers_back_fails_the_job_and_takes_the_others(docker_server, docker_jobs):
    sm = docker_server.client()
    name = docker_jobs.name("lost")
    sm.create_training_job(**cluster_request(docker_server, name, LISTEN))
    wait_for(lambda: len(job_containers(name)) == 2 and all(
        "ready" in docker("logs", c).stdout for c in job_containers(name).values()), timeout=60,
        message="both hosts to be ready")
    docker("rm", "-f", job_containers(name)["algo-2"])
    job = wait_for_status(sm, name, timeout=30)
    # `docker rm -f` kills before it removes: the watch sees exit 137 first (a host killed from
    # outside); had the container vanished unseen, the reason would say it disappeared.
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] in ("AlgorithmError: , exit code: 137",) or (
        job["FailureReason"].startswith("InternalServerError: The training container ") and "algo-2" in job["FailureReason"])
    wait_for(lambda: job_containers(name) == {} and job_networks(name) == [], timeout=10,
             message="algo-1 and the network to be removed")


def test_leftover_job_networks_are_removed_at_startup(docker_server, docker_jobs):
    """A server that dies between removing a job's last container and its network leaves the
    network behind. At startup the server removes its own job networks (labelled with its instance
    id) whose job is over or unknown; a running job's network and another server's stay."""
    sm = docker_server.client()
    instance = instance_id(docker_server)
    finished = docker_jobs.name("leak-done")
    sm.create_training_job(**cluster_request(docker_server, finished, "echo done", count=1))
    assert wait_for_status(sm, finished, timeout=60)["TrainingJobStatus"] == "Completed"
    running = docker_jobs.name("leak-running")
    sm.create_training_job(**cluster_request(docker_server, running, LISTEN, count=1))
    wait_for(lambda: sm.describe_training_job(TrainingJobName=running)["SecondaryStatus"] == "Training", timeout=60,
             message="Training")

    token = docker_jobs.token
    networks = {  # name: (instance, job id)
        f"gpu-leak-finished-{token}": (instance, stored_job(docker_server, finished)["id"]),
        f"gpu-leak-unknown-{token}": (instance, 999999),
        f"gpu-leak-running-{token}": (instance, stored_job(docker_server, running)["id"]),
        f"gpu-leak-other-{token}": ("gpu-other-instance", 999999),
    }
    try:
        for network, (owner, job_id) in networks.items():
            docker("network", "create", "--internal", "--label", f"trainyard.instance={owner}",
                   "--label", f"trainyard.job-id={job_id}", "--label", f"trainyard.network={network}", network)
        docker_server.kill()
        docker_server.restart()

        def present():
            return set(docker("network", "ls", "--format", "{{.Name}}", "--filter", f"name=gpu-leak-").stdout.split())
        wait_for(lambda: f"gpu-leak-finished-{token}" not in present() and f"gpu-leak-unknown-{token}" not in present(),
                 timeout=20, message="the leftover networks to be removed")
        assert {f"gpu-leak-running-{token}", f"gpu-leak-other-{token}"} <= present()
    finally:
        for network in networks:
            docker("network", "rm", network, check=False)
    sm = docker_server.client()
    sm.stop_training_job(TrainingJobName=running)
    assert wait_for_status(sm, running, timeout=30)["TrainingJobStatus"] == "Stopped"
