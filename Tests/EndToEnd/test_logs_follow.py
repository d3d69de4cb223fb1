"""Following a running job's output the way `aws logs tail --follow` (AWS CLI v2) does: repeated
FilterLogEvents(logGroupName, logStreamNamePrefix, startTime, interleaved) calls, each resuming at
the newest timestamp seen and skipping event ids already printed. CLI v2 is not on PyPI, so its
algorithm is replayed here with boto3 against a real container's captured output."""
import time

from conftest import TEST_IMAGE, job_request

GROUP = "/aws/sagemaker/TrainingJobs"


def test_follow_sees_every_line_once_while_the_job_runs(docker_server, docker_jobs):
    sm, logs = docker_server.client(), docker_server.client("logs")
    name = docker_jobs.name("follow")
    ticks = 20
    request = job_request(name, Environment={"TRAINYARD_TEST_BEHAVIOUR": "ticker", "TRAINYARD_TEST_TICKS": str(ticks),
                                             "TRAINYARD_TEST_TICK_SECONDS": "0.15"})
    request["AlgorithmSpecification"]["TrainingImage"] = TEST_IMAGE
    sm.create_training_job(**request)

    seen_ids, printed, seen_while_running = set(), [], 0
    start_time = int((time.time() - 60) * 1000)
    deadline = time.time() + 60
    while time.time() < deadline:
        status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        try:
            for page in logs.get_paginator("filter_log_events").paginate(
                    logGroupName=GROUP, logStreamNamePrefix=name, startTime=start_time, interleaved=True):
                for event in page["events"]:
                    if event["eventId"] in seen_ids:
                        continue
                    seen_ids.add(event["eventId"])
                    printed.append(event["message"])
                    if status == "InProgress":
                        seen_while_running += 1
                    start_time = max(start_time, event["timestamp"])
        except logs.exceptions.ResourceNotFoundException:
            pass  # no output yet: the group appears with the first stream
        if status != "InProgress" and len(printed) >= ticks:
            break
        time.sleep(0.3)
    assert printed == [f"tick {i}" for i in range(1, ticks + 1)]
    # Followed, not read afterwards: lines arrived while the container was still printing.
    assert seen_while_running > 0
