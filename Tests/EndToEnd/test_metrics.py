"""GET /metrics: Prometheus text with jobs by status, API requests and latency by operation and
outcome, container starts/stops/kills, log lines ingested and the store size."""
import re
import urllib.request

import botocore.exceptions
import pytest

from conftest import job_request, wait_for_status


def scrape(server):
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return text, samples


def test_metrics_count_requests_jobs_and_containers(server, sm):
    sm.create_training_job(**job_request("metrics-done"))
    sm.create_training_job(**job_request("metrics-stopped", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "60",
                                                                          "TRAINYARD_SIMULATE_IGNORE_SIGTERM": "true"}))
    with pytest.raises(botocore.exceptions.ClientError):
        sm.describe_training_job(TrainingJobName="metrics-missing")
    wait_for_status(sm, "metrics-done")
    wait_for_status(sm, "metrics-stopped", statuses=("InProgress",))
    from conftest import wait_for
    wait_for(lambda: sm.describe_training_job(TrainingJobName="metrics-stopped")["SecondaryStatus"] == "Training")
    sm.stop_training_job(TrainingJobName="metrics-stopped")
    wait_for_status(sm, "metrics-stopped")

    text, samples = scrape(server)
    assert samples['trainyard_api_requests_total{operation="CreateTrainingJob",outcome="success"}'] == 2
    assert samples['trainyard_api_requests_total{operation="DescribeTrainingJob",outcome="ValidationException"}'] == 1
    assert samples['trainyard_api_requests_total{operation="StopTrainingJob",outcome="success"}'] == 1
    assert samples['trainyard_jobs{status="Completed"}'] == 1
    assert samples['trainyard_jobs{status="Stopped"}'] == 1
    assert samples['trainyard_jobs{status="InProgress"}'] == 0
    assert samples["trainyard_container_starts_total"] == 2
    assert samples["trainyard_container_stops_total"] == 1
    assert samples["trainyard_container_kills_total"] == 1  # it ignored SIGTERM
    assert samples["trainyard_log_lines_ingested_total"] >= 2
    assert samples["trainyard_store_bytes"] > 0
    # Latency histograms: cumulative buckets ending in +Inf, with a count matching the requests.
    count = samples['trainyard_api_request_duration_seconds_count{operation="CreateTrainingJob",outcome="success"}']
    assert count == 2
    assert samples['trainyard_api_request_duration_seconds_bucket{operation="CreateTrainingJob",outcome="success",le="+Inf"}'] == 2
    assert re.search(r'# TYPE trainyard_api_request_duration_seconds histogram', text)
