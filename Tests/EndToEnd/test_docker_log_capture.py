"""Container output captured into CloudWatch Logs survives a server killed with SIGKILL mid-job:
after the restart, capture resumes from the last stored line and every line is there exactly once.
Also: a chatty container's lines are all stored."""
from conftest import TEST_IMAGE, job_request, wait_for, wait_for_status

GROUP = "/aws/sagemaker/TrainingJobs"


def stream_messages(logs, job):
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=job + "/")["logStreams"]
    assert len(streams) == 1, streams
    messages, token = [], None
    for _ in range(1000):
        kwargs = {"logGroupName": GROUP, "logStreamName": streams[0]["logStreamName"], "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        messages += [event["message"] for event in page["events"]]
        if page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]
    raise AssertionError("GetLogEvents never caught up")


def docker_job(name, environment):
    request = job_request(name, Environment=environment)
    request["AlgorithmSpecification"]["TrainingImage"] = TEST_IMAGE
    return request


def test_capture_resumes_after_sigkill_without_loss_or_duplicates(docker_server_factory, docker_jobs):
    server = docker_server_factory()
    sm, logs = server.client(), server.client("logs")
    name = docker_jobs.name("capture-restart")
    ticks = 30
    sm.create_training_job(**docker_job(name, {"TRAINYARD_TEST_BEHAVIOUR": "ticker", "TRAINYARD_TEST_TICKS": str(ticks),
                                               "TRAINYARD_TEST_TICK_SECONDS": "0.1"}))
    # Kill the server once some lines are stored and the container is still printing.
    def some_lines_stored():
        try:
            return len(stream_messages(logs, name)) >= 5
        except (logs.exceptions.ResourceNotFoundException, AssertionError):
            return False  # no log group or stream yet
    wait_for(some_lines_stored, timeout=60)
    server.kill()
    server.start()
    sm, logs = server.client(), server.client("logs")
    job = wait_for_status(sm, name, timeout=90)
    assert job["TrainingJobStatus"] == "Completed"
    messages = stream_messages(logs, name)
    assert messages == [f"tick {i}" for i in range(1, ticks + 1)]


def test_a_chatty_container_loses_no_line(docker_server, docker_jobs):
    sm, logs = docker_server.client(), docker_server.client("logs")
    name = docker_jobs.name("capture-chatty")
    lines = 20_000
    sm.create_training_job(**docker_job(name, {"TRAINYARD_TEST_BEHAVIOUR": "chatty", "TRAINYARD_TEST_LINES": str(lines)}))
    assert wait_for_status(sm, name, timeout=120)["TrainingJobStatus"] == "Completed"
    messages = stream_messages(logs, name)
    assert len(messages) == lines
    assert len(set(messages)) == lines
