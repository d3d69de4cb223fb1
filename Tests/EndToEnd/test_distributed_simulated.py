"""Distributed jobs on the `simulated` runtime (issue 13 item 8): the same multi-host lifecycle
without Docker, steered per host through the job's Environment."""
from conftest import job_request, wait_for_secondary, wait_for_status

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def cluster(name, count, **environment):
    return job_request(
        name, ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 30},
        Environment={key: str(value) for key, value in environment.items()})


def stream_hosts(server, name):
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    return sorted(s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams)


def test_every_host_completes(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.05"])
    sm = server.client()
    sm.create_training_job(**cluster("sim-cluster", 3, TRAINYARD_SIMULATE_TRAINING_SECONDS=0.2))
    job = wait_for_status(sm, "sim-cluster")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed")
    assert stream_hosts(server, "sim-cluster") == ["algo-1", "algo-2", "algo-3"]


def test_one_failing_host_fails_the_job_and_the_others_are_stopped(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.05", "--stop-grace-seconds", "30"])
    sm = server.client()
    sm.create_training_job(**cluster(
        "sim-fail", 3, TRAINYARD_SIMULATE_TRAINING_SECONDS=600, TRAINYARD_SIMULATE_FAILING_HOST="algo-2",
        TRAINYARD_SIMULATE_FAILING_HOST_SECONDS=0.2, TRAINYARD_SIMULATE_EXIT_CODE=2,
        TRAINYARD_SIMULATE_FAILURE="host algo-2 ran out of patience"))
    # The other hosts would train for 600 s: the job ends because they are stopped (SIGTERM ends
    # a simulated container at once), well within the test's timeout.
    job = wait_for_status(sm, "sim-fail", timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert job["FailureReason"] == "AlgorithmError: host algo-2 ran out of patience, exit code: 2"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Downloading", "Training", "Failed"]


def test_stop_stops_every_host(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.05"])
    sm = server.client()
    sm.create_training_job(**cluster("sim-stop", 2, TRAINYARD_SIMULATE_TRAINING_SECONDS=600))
    wait_for_secondary(sm, "sim-stop", "Training")
    sm.stop_training_job(TrainingJobName="sim-stop")
    job = wait_for_status(sm, "sim-stop", timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")


def test_max_runtime_stops_every_host(server_factory):
    server = server_factory(extra_args=["--simulated-phase-seconds", "0.05"])
    sm = server.client()
    request = cluster("sim-maxrt", 2, TRAINYARD_SIMULATE_TRAINING_SECONDS=600)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    sm.create_training_job(**request)
    job = wait_for_status(sm, "sim-maxrt", timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
