#!/usr/bin/env python3
"""Dashboard render times in a real browser (headless Chromium + Selenium), with 100k jobs stored
and a job of 100k log lines (issue 15: budget 300 ms each on this machine).

1. A Docker-runtime server runs one job that prints 100k lines (busybox seq + awk, each with a
   `loss=` metric) until it completes; the server stops.
2. The same data directory is served with the simulated runtime and day-long phases, and 100k
   jobs are created through the API (they stay stored, InProgress).
3. Chromium loads `/` and `/#/jobs/<the 100k-line job>` N times each. Reported per load: the
   Navigation Timing of the document (responseEnd, domContentLoadedEventEnd) and the time until
   the page's own mark says the table or the log is rendered (`list-rendered`, `job-rendered`,
   milliseconds since navigation start). The first load is cold (Chart.js not cached).

Also measured outside the browser: the GetMetricData call the job page makes over the 100k-line
job, cold (the first scan of the stream) and warm (cached scan).

    bench/dashboard.py                       # 100k jobs, 100k lines (several minutes)
    bench/dashboard.py --jobs 2000 --lines 5000 --loads 3
"""
import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run import Peer, build_release, free_port, sagemaker_call  # noqa: E402
from scale import create_jobs  # noqa: E402

JOB = "bench-100k-lines"


def call(endpoint, target, body, version="1.1"):
    request = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), headers={
        "Content-Type": f"application/x-amz-json-{version}", "X-Amz-Target": target})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def measure(driver, url, mark, loads):
    rows = []
    for _ in range(loads):
        driver.get("about:blank")
        driver.get(url)
        deadline = time.time() + 60
        while time.time() < deadline:
            result = driver.execute_script(
                "const m = performance.getEntriesByName(arguments[0])[0];"
                "const n = performance.getEntriesByType('navigation')[0];"
                "return m ? {mark: m.startTime, responseEnd: n.responseEnd, dcl: n.domContentLoadedEventEnd} : null", mark)
            if result:
                rows.append(result)
                break
            time.sleep(0.01)
        else:
            raise SystemExit(f"{url}: no {mark} mark within 60 s")
    return rows


def summary(rows):
    marks = [r["mark"] for r in rows]
    return {"cold_ms": round(marks[0], 1), "median_ms": round(statistics.median(marks[1:] or marks), 1),
            "max_ms": round(max(marks), 1), "response_end_ms": round(statistics.median(r["responseEnd"] for r in rows), 1),
            "dom_content_loaded_ms": round(statistics.median(r["dcl"] for r in rows), 1), "loads": len(rows)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=6)
    parser.add_argument("--binary")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    binary = pathlib.Path(args.binary) if args.binary else build_release()
    work = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-dashboard-"))
    data = work / "data"
    results = {"jobs": args.jobs, "lines": args.lines}
    try:
        port = free_port()
        docker = Peer("trainyard-docker", [str(binary), "serve", "--runtime", "docker", "--port", str(port),
                                           "--data-dir", str(data), "--log-level", "warning"], port, "/health")
        docker.start(work)
        script = f"seq 1 {args.lines} | awk '{{print \"step \" $1 \" loss=\" 1/$1}}'"
        sagemaker_call(docker.endpoint, "CreateTrainingJob", {
            "TrainingJobName": JOB, "RoleArn": "arn:aws:iam::123456789012:role/Trainer",
            "AlgorithmSpecification": {"TrainingImage": "trainyard-test/busybox:latest", "TrainingInputMode": "File",
                                       "ContainerEntrypoint": ["/bin/sh", "-c", script],
                                       "MetricDefinitions": [{"Name": "train:loss", "Regex": "loss=([0-9.e-]+)"}]},
            "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}})
        started = time.time()
        while True:
            job = call(docker.endpoint, "SageMaker.DescribeTrainingJob", {"TrainingJobName": JOB})
            if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(0.5)
        results["job_seconds"] = round(time.time() - started, 1)
        assert job["TrainingJobStatus"] == "Completed", job
        docker.stop()

        port = free_port()
        server = Peer("trainyard", [str(binary), "serve", "--runtime", "simulated", "--port", str(port), "--data-dir",
                                    str(data), "--simulated-phase-seconds", "86400", "--log-level", "warning"],
                      port, "/health")
        server.start(work)
        try:
            # GetMetricData as the job page asks for it: cold scan of the stream, then cached.
            query = {"MetricDataQueries": [{"Id": "m0", "MetricStat": {"Metric": {
                "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
                "Dimensions": [{"Name": "TrainingJobName", "Value": JOB}]}, "Period": 1, "Stat": "Average"}}],
                "StartTime": int(job["CreationTime"]) - 1, "EndTime": int(job["TrainingEndTime"]) + 60}
            for label in ("get_metric_data_cold_ms", "get_metric_data_warm_ms"):
                t = time.perf_counter()
                points = call(server.endpoint, "GraniteServiceVersion20100801.GetMetricData", query, "1.0")
                results[label] = round((time.perf_counter() - t) * 1000, 1)
            results["metric_periods"] = len(points["MetricDataResults"][0]["Values"])
            query["MetricDataQueries"][0]["MetricStat"].update({"Stat": "SampleCount", "Period": 60})
            counts = call(server.endpoint, "GraniteServiceVersion20100801.GetMetricData", query, "1.0")
            results["points"] = int(sum(counts["MetricDataResults"][0]["Values"]))
            # ListMetrics over every job of the account (it reads each recently modified job).
            t = time.perf_counter()
            call(server.endpoint, "GraniteServiceVersion20100801.ListMetrics", {}, "1.0")
            results["list_metrics_1_job_ms"] = round((time.perf_counter() - t) * 1000, 1)

            t = time.time()
            create_jobs(server.endpoint, 0, args.jobs)
            results["create_seconds"] = round(time.time() - t, 1)

            t = time.perf_counter()
            call(server.endpoint, "GraniteServiceVersion20100801.ListMetrics", {}, "1.0")
            results["list_metrics_all_jobs_ms"] = round((time.perf_counter() - t) * 1000, 1)

            driver = browser()
            try:
                results["list_page"] = summary(measure(driver, server.endpoint + "/", "list-rendered", args.loads))
                results["job_page"] = summary(measure(driver, f"{server.endpoint}/#/jobs/{JOB}", "job-rendered", args.loads))
            finally:
                driver.quit()
        finally:
            server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
