"""Docker runtime, end to end: the container contract seen from inside the container.

The test image's `dump` behaviour copies /opt/ml/input/config/* and what it sees of its
environment (arguments, env, hostname, mounts, network interfaces, /dev/shm, channel files) into
/opt/ml/model, so each check reads the job's model.tar.gz (DESIGN §4, sagemaker-semantics §1).
"""
import json

from conftest import (ACCOUNT, REGION, TEST_IMAGE, containers_for_job, job_output_dir, job_request, read_tarball,
                      wait_for_status)

DUMP = {"TRAINYARD_TEST_BEHAVIOUR": "dump"}


def dumped(server, name):
    """{file name: text} of what the dump behaviour wrote, from the job's model.tar.gz."""
    files = read_tarball(job_output_dir(server, name) / "model.tar.gz")
    return {key: value.decode() for key, value in files.items()}


def env_of(files):
    return dict(line.split("=", 1) for line in files["env.txt"].splitlines() if "=" in line)


def assert_completed(job):
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed"), job.get("FailureReason")


def test_container_contract(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    name = docker_jobs.name("contract")
    plain = docker_jobs.name("contract-plain")
    local = tmp_path / "local-channel"
    local.mkdir()
    (local / "a.csv").write_text("1,2,3")
    (docker_server.data_dir / "s3" / "data-bucket" / "train").mkdir(parents=True)
    (docker_server.data_dir / "s3" / "data-bucket" / "train" / "b.csv").write_text("4,5,6")
    hyperparameters = {"epochs": "3", "name": "\"quoted\"", "flag": "True", "lr": "0.1",
                       "nested": "{\"a\": [1, 2]}", "empty": "", "unicode": "héllo ✓"}
    environment = {**DUMP, "MY_SETTING": "value with spaces=and equals", "OTHER": "2"}
    sm.create_training_job(**job_request(
        name, HyperParameters=hyperparameters, Environment=environment,
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        InputDataConfig=[
            {"ChannelName": "train", "ContentType": "text/csv",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data-bucket/train/"}}},
            {"ChannelName": "local", "InputMode": "File",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{local}",
                                             "S3DataDistributionType": "FullyReplicated"}}},
        ],
        CheckpointConfig={"S3Uri": "s3://bucket/checkpoints/contract"},
        # What the SageMaker Python SDK sends by default; smdebug reads the files written for them.
        DebugHookConfig={"S3OutputPath": "s3://bucket/debug", "CollectionConfigurations": []},
        ProfilerConfig={"S3OutputPath": "s3://bucket/profiler", "DisableProfiler": False}))
    sm.create_training_job(**job_request(plain, Environment=DUMP))

    job = wait_for_status(sm, name, timeout=60)
    assert_completed(job)
    assert_completed(wait_for_status(sm, plain, timeout=60))
    files = dumped(docker_server, name)

    # The image's ENTRYPOINT with the single argument `train`.
    assert files["argc.txt"] == "1\n"
    assert files["argv.txt"] == "train\n"
    # hyperparameters.json: the request's map, verbatim (values stay the strings that were sent).
    assert json.loads(files["hyperparameters.json"]) == hyperparameters
    assert json.loads(files["resourceconfig.json"]) == {
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "network_interface_name": "eth0",
        "current_instance_type": "ml.c5.xlarge",
        "current_group_name": "homogeneousCluster",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "ml.c5.xlarge",
                             "hosts": ["algo-1"]}],
    }
    assert json.loads(files["inputdataconfig.json"]) == {
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"},
        "local": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"},
    }
    checkpoint = json.loads(files["checkpointconfig.json"])
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints"
    # Channel data in /opt/ml/input/data/<channel>/.
    assert files["input-data-files.txt"].splitlines() == ["./local/a.csv: 1,2,3", "./train/b.csv: 4,5,6"]

    env = env_of(files)
    assert env["TRAINING_JOB_NAME"] == name
    assert env["TRAINING_JOB_ARN"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}"
    assert env["AWS_REGION"] == REGION
    assert env["AWS_DEFAULT_REGION"] == REGION
    assert env["MY_SETTING"] == "value with spaces=and equals"
    assert env["OTHER"] == "2"

    assert files["hostname.txt"] == "algo-1\n"
    # Only the four folders are mounted: /opt/ml/code from the image stays visible.
    mounted = {line.split()[1] for line in files["mounts.txt"].splitlines()}
    opt_ml_mounts = sorted(point for point in mounted if point.startswith("/opt/ml"))
    assert opt_ml_mounts == ["/opt/ml/checkpoints", "/opt/ml/input", "/opt/ml/model", "/opt/ml/output"]
    assert "/opt/ml" not in mounted
    assert files["code-listing.txt"].split() == ["train.py"]
    assert set(files["opt-ml-listing.txt"].split()) == {"checkpoints", "code", "input", "model", "output"}
    # Network "none": loopback only.
    assert files["net-interfaces.txt"].split() == ["lo"]
    # A large /dev/shm (1 GiB by default; Docker's own default is 64 MiB).
    shm_kib = int(files["shm-df.txt"].splitlines()[-1].split()[1])
    assert shm_kib == 1024 * 1024, files["shm-df.txt"]

    debug_hook = json.loads(files["debughookconfig.json"])
    assert debug_hook == {"S3OutputPath": "s3://bucket/debug", "CollectionConfigurations": [],
                          "LocalPath": "/opt/ml/output/tensors"}
    assert json.loads(files["profilerconfig.json"]) == {"S3OutputPath": "s3://bucket/profiler", "DisableProfiler": False}

    plain_files = dumped(docker_server, plain)
    assert "checkpointconfig.json" not in plain_files, "checkpointconfig.json is written only with CheckpointConfig"
    assert "debughookconfig.json" not in plain_files and "profilerconfig.json" not in plain_files
    assert json.loads(plain_files["hyperparameters.json"]) == {}
    assert json.loads(plain_files["inputdataconfig.json"]) == {}
    assert containers_for_job(name) == [] and containers_for_job(plain) == []


def test_entrypoint_overrides(docker_server, docker_jobs):
    sm = docker_server.client()
    script = ["/bin/sh", "/usr/local/bin/train-entry.sh"]
    entrypoint_only = docker_jobs.name("entrypoint-only")
    arguments_only = docker_jobs.name("arguments-only")
    both = docker_jobs.name("entrypoint-and-arguments")
    sm.create_training_job(**job_request(
        entrypoint_only, Environment=DUMP,
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": script + ["from-entrypoint"]}))
    sm.create_training_job(**job_request(
        arguments_only, Environment=DUMP,
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerArguments": ["--epochs", "3", "two words"]}))
    sm.create_training_job(**job_request(
        both, Environment=DUMP,
        AlgorithmSpecification={"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File",
                                "ContainerEntrypoint": script, "ContainerArguments": ["alpha", "beta"]}))

    for name in (entrypoint_only, arguments_only, both):
        assert_completed(wait_for_status(sm, name, timeout=60))
    # ContainerEntrypoint only: that command, without `train` and without the image's CMD.
    assert dumped(docker_server, entrypoint_only)["argv.txt"] == "from-entrypoint\n"
    # ContainerArguments only: the image's ENTRYPOINT with these arguments (no `train`).
    assert dumped(docker_server, arguments_only)["argv.txt"] == "--epochs\n3\ntwo words\n"
    # Both.
    assert dumped(docker_server, both)["argv.txt"] == "alpha\nbeta\n"


def test_channel_data_sources(docker_server, docker_jobs, tmp_path):
    sm = docker_server.client()
    local = tmp_path / "file-channel"
    (local / "nested" / "deeper").mkdir(parents=True)
    (local / "top.txt").write_text("top")
    (local / "nested" / "deeper" / "leaf.txt").write_text("leaf")
    prefix = docker_server.data_dir / "s3" / "datasets" / "run-1" / "train"
    (prefix / "part").mkdir(parents=True)
    (prefix / "x.txt").write_text("x")
    (prefix / "part" / "y.txt").write_text("y")

    def channel(name, uri):
        return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}

    ok = docker_jobs.name("channels")
    missing = docker_jobs.name("channels-missing")
    sm.create_training_job(**job_request(ok, Environment=DUMP, InputDataConfig=[
        channel("fromfile", f"file://{local}"), channel("froms3", "s3://datasets/run-1/train")]))
    sm.create_training_job(**job_request(missing, Environment=DUMP, InputDataConfig=[
        channel("train", "s3://datasets/no-such-prefix/")]))

    assert_completed(wait_for_status(sm, ok, timeout=60))
    assert dumped(docker_server, ok)["input-data-files.txt"].splitlines() == [
        "./fromfile/nested/deeper/leaf.txt: leaf",
        "./fromfile/top.txt: top",
        "./froms3/part/y.txt: y",
        "./froms3/x.txt: x",
    ]

    job = wait_for_status(sm, missing, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert job["FailureReason"].startswith(
        'ClientError: No S3 objects found under S3 URL "s3://datasets/no-such-prefix/" given in input data source.')
    assert containers_for_job(missing) == [], "no container may start without its data"
