"""The `simulated` runtime and the server options, as the README documents them."""
import json
import tarfile

import pytest

from conftest import job_request, wait_for, wait_for_secondary, wait_for_status


def durations(job):
    """Seconds spent in each SecondaryStatus, from the transitions."""
    return {t["Status"]: (t["EndTime"] - t["StartTime"]).total_seconds()
            for t in job["SecondaryStatusTransitions"] if "EndTime" in t}


def object_path(server, uri, s3_root=None):
    assert uri.startswith("s3://")
    return (s3_root or server.data_dir / "s3") / uri[len("s3://"):]


def assert_tarball(path, empty=True):
    """A gzip tar; the simulated runtime writes no files into /opt/ml/model or /opt/ml/output/data."""
    assert path.is_file(), path
    with tarfile.open(path, "r:gz") as archive:
        members = archive.getmembers()
    if empty:
        assert [m.name for m in members if not m.isdir()] == []
    return members


def test_each_phase_takes_the_simulated_phase_seconds(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.3"])
    sm = server.client()
    sm.create_training_job(**job_request("phases"))
    job = wait_for_status(sm, "phases")
    assert job["TrainingJobStatus"] == "Completed"
    spent = durations(job)
    for status in ("Starting", "Downloading", "Uploading"):
        assert 0.299 <= spent[status] < 3, (status, spent)
    # Training is timed by the simulated container, which starts a moment before the Training
    # transition is stored, so the transition can be a few milliseconds short of the phase.
    assert 0.2 <= spent["Training"] < 3, spent
    assert spent["Completed"] == 0


def test_training_seconds_variable_sets_training_time(server):
    sm = server.client()
    sm.create_training_job(**job_request("train-1-5", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "1.5"}))
    sm.create_training_job(**job_request("train-0", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "0"}))
    slow = wait_for_status(sm, "train-1-5")
    quick = wait_for_status(sm, "train-0")
    assert slow["TrainingJobStatus"] == quick["TrainingJobStatus"] == "Completed"
    assert 1.4 <= durations(slow)["Training"] < 3
    assert durations(quick)["Training"] < 1.0
    assert slow["TrainingTimeInSeconds"] == int((slow["TrainingEndTime"] - slow["TrainingStartTime"]).total_seconds() + 0.5)


def test_exit_code_and_failure_text(server):
    sm = server.client()
    cases = {
        "exit-7": ({"TRAINYARD_SIMULATE_EXIT_CODE": "7"}, "Failed", "AlgorithmError: Exit Code: 7"),
        "exit-text": ({"TRAINYARD_SIMULATE_EXIT_CODE": "1", "TRAINYARD_SIMULATE_FAILURE": "Traceback: boom\nline 2"},
                      "Failed", "AlgorithmError: Traceback: boom\nline 2"),
        "exit-blank-text": ({"TRAINYARD_SIMULATE_EXIT_CODE": "4", "TRAINYARD_SIMULATE_FAILURE": "  \n"},
                            "Failed", "AlgorithmError: Exit Code: 4"),
        # The exit code decides, as in SageMaker: a failure file from a process that exits 0 is ignored.
        "text-exit-0": ({"TRAINYARD_SIMULATE_FAILURE": "only a warning"}, "Completed", None),
        "exit-0": ({"TRAINYARD_SIMULATE_EXIT_CODE": "0"}, "Completed", None),
    }
    for name, (env, _, _) in cases.items():
        sm.create_training_job(**job_request(name, Environment=env))
    for name, (_, status, reason) in cases.items():
        job = wait_for_status(sm, name)
        assert job["TrainingJobStatus"] == status, name
        assert job.get("FailureReason") == reason, name
        if status == "Failed":
            assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
                "Starting", "Downloading", "Training", "Failed"]
            assert job["SecondaryStatusTransitions"][-1]["StatusMessage"]


def test_failure_text_is_kept_verbatim(server):
    sm = server.client()
    sm.create_training_job(**job_request("long-failure", Environment={
        "TRAINYARD_SIMULATE_EXIT_CODE": "1", "TRAINYARD_SIMULATE_FAILURE": "e" * 512}))
    # Environment values are at most 512 characters, far below FailureReason's cap of 1024.
    job = wait_for_status(sm, "long-failure")
    assert job["FailureReason"] == "AlgorithmError: " + "e" * 512
    assert len(job["FailureReason"]) <= 1024


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_ignore_sigterm_makes_a_stop_wait_for_sigkill(server, value):
    sm = server.client()
    sm.create_training_job(**job_request("stubborn", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                                  "TRAINYARD_SIMULATE_IGNORE_SIGTERM": value}))
    wait_for_secondary(sm, "stubborn", "Training")
    sm.stop_training_job(TrainingJobName="stubborn")
    job = wait_for_status(sm, "stubborn", timeout=15)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert 0.999 <= durations(job)["Stopping"] < 5


def test_ignore_sigterm_with_max_runtime(server):
    sm = server.client()
    sm.create_training_job(**job_request("stubborn-timeout", StoppingCondition={"MaxRuntimeInSeconds": 1},
                                         Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                      "TRAINYARD_SIMULATE_IGNORE_SIGTERM": "true"}))
    job = wait_for_status(sm, "stubborn-timeout", timeout=15)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert 0.999 <= durations(job)["Stopping"] < 5


def test_sigterm_handled_without_the_variable(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.2", "--stop-grace-seconds", "10"])
    sm = server.client()
    sm.create_training_job(**job_request("polite", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                                "TRAINYARD_SIMULATE_IGNORE_SIGTERM": "false"}))
    wait_for_secondary(sm, "polite", "Training")
    sm.stop_training_job(TrainingJobName="polite")
    job = wait_for_status(sm, "polite", timeout=15)
    assert job["TrainingJobStatus"] == "Stopped"
    assert durations(job)["Stopping"] < 5, "a SIGTERM-handling container does not wait for the 10 s grace"


def test_artifacts_land_in_the_object_store_for_every_ending(server):
    sm = server.client()
    sm.create_training_job(**job_request("art-done"))
    sm.create_training_job(**job_request("art-failed", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "2"}))
    sm.create_training_job(**job_request("art-stopped", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60"}))
    wait_for_secondary(sm, "art-stopped", "Training")
    sm.stop_training_job(TrainingJobName="art-stopped")
    for name in ("art-done", "art-failed", "art-stopped"):
        job = wait_for_status(sm, name)
        model = object_path(server, job["ModelArtifacts"]["S3ModelArtifacts"])
        assert model == server.data_dir / "s3" / "bucket" / "output" / name / "output" / "model.tar.gz"
        assert_tarball(model)
        assert_tarball(model.parent / "output.tar.gz")
    # Workspaces and simulated container records are removed when jobs end (the workspace just after
    # the job's final status is stored, hence the polling).
    wait_for(lambda: list((server.data_dir / "workspaces").iterdir()) == [], timeout=5, message="workspaces removed")
    wait_for(lambda: live_simulated_containers(server) == set(), timeout=5, message="container records removed")


def live_simulated_containers(server):
    """The simulated runtime's live containers (by name), replayed from its journal (one JSON line per
    change: {"record": {...}} for a container as it now is, {"removed": name} when it is removed)."""
    journal = server.data_dir / "simulated-containers" / "containers.jsonl"
    assert journal.exists(), "the simulated runtime keeps its journal here"
    live = set()
    for line in journal.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("removed"):
            live.discard(entry["removed"])
        elif entry.get("record"):
            live.add(entry["record"]["spec"]["name"])
    return live


def test_file_uris_for_input_and_output(server, tmp_path):
    sm = server.client()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "train.csv").write_text("1,2,3\n")
    outputs = tmp_path / "outputs"
    sm.create_training_job(**job_request(
        "local-files", OutputDataConfig={"S3OutputPath": f"file://{outputs}"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{inputs}/"}}}]))
    job = wait_for_status(sm, "local-files")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"file://{outputs}/local-files/output/model.tar.gz"
    assert_tarball(outputs / "local-files" / "output" / "model.tar.gz")
    assert_tarball(outputs / "local-files" / "output" / "output.tar.gz")


def test_input_channels_read_the_local_object_store(server):
    sm = server.client()
    data = server.data_dir / "s3" / "datasets" / "iris" / "train"
    data.mkdir(parents=True)
    (data / "part-0.csv").write_text("5.1,3.5,1.4,0.2\n")
    channel = {"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://datasets/iris/train/"}}}
    sm.create_training_job(**job_request("with-data", InputDataConfig=[channel]))
    missing = dict(channel, DataSource={"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://datasets/none/"}})
    sm.create_training_job(**job_request("without-data", InputDataConfig=[missing]))
    assert wait_for_status(sm, "with-data")["TrainingJobStatus"] == "Completed"
    failed = wait_for_status(sm, "without-data")
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("ClientError: ")
    assert "s3://datasets/none/" in failed["FailureReason"]


def test_s3_root_moves_the_object_store(server_factory, tmp_path):
    s3_root = tmp_path / "object-store"
    (s3_root / "bucket" / "in").mkdir(parents=True)
    (s3_root / "bucket" / "in" / "a.csv").write_text("1\n")
    server = server_factory(extra_args=["--s3-root", str(s3_root), "--simulated-phase-seconds", "0.1"])
    sm = server.client()
    sm.create_training_job(**job_request("moved", InputDataConfig=[{"ChannelName": "train", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}}}]))
    job = wait_for_status(sm, "moved")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert_tarball(object_path(server, job["ModelArtifacts"]["S3ModelArtifacts"], s3_root=s3_root))
    assert not (server.data_dir / "s3" / "bucket" / "output").exists()


def test_keep_workspaces_keeps_the_job_folders(server_factory):
    server = server_factory(extra_args=["--keep-workspaces", "true", "--simulated-phase-seconds", "0.1"])
    sm = server.client()
    sm.create_training_job(**job_request("kept", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "1",
                                                              "TRAINYARD_SIMULATE_FAILURE": "kept text"}))
    assert wait_for_status(sm, "kept")["FailureReason"] == "AlgorithmError: kept text"
    workspaces = list((server.data_dir / "workspaces").iterdir())
    assert len(workspaces) == 1
    assert any(path.name == "failure" and path.read_text() == "kept text" for path in workspaces[0].rglob("*"))


def test_environment_variables_configure_the_server_and_flags_win(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.1"],
                            env={"TRAINYARD_SIMULATED_PHASE_SECONDS": "5", "TRAINYARD_STOP_GRACE_SECONDS": "0.5",
                                 "TRAINYARD_REGION": "eu-west-1", "TRAINYARD_ACCOUNT_ID": "111122223333"})
    sm = server.client()
    arn = sm.create_training_job(**job_request("env-config"))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:eu-west-1:111122223333:training-job/env-config"
    job = wait_for_status(sm, "env-config", timeout=10)
    assert job["TrainingJobStatus"] == "Completed"
    assert max(durations(job).values()) < 2.5, "the --simulated-phase-seconds flag (0.1) beats the variable (5)"
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []
    sm.create_training_job(**job_request("env-grace", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                                   "TRAINYARD_SIMULATE_IGNORE_SIGTERM": "true"}))
    wait_for_secondary(sm, "env-grace", "Training")
    sm.stop_training_job(TrainingJobName="env-grace")
    stopped = wait_for_status(sm, "env-grace", timeout=10)
    assert 0.499 <= durations(stopped)["Stopping"] < 5, "TRAINYARD_STOP_GRACE_SECONDS=0.5 applies, not 120"


def test_concurrent_jobs_all_run(server):
    sm = server.client()
    names = [f"many-{i}" for i in range(12)]
    for name in names:
        sm.create_training_job(**job_request(name))
    ends = [wait_for_status(sm, name) for name in names]
    assert all(job["TrainingJobStatus"] == "Completed" for job in ends)
    started = sorted(job["TrainingStartTime"] for job in ends)
    # Jobs do not queue behind each other: all left Starting within a few phases.
    assert (started[-1] - started[0]).total_seconds() < 3
