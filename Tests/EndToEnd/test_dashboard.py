"""The web dashboard at `/`, driven in headless Chromium (Debian's chromium + chromium-driver, with
Selenium from PyPI) against a running server whose jobs are created with boto3.

Screenshots of the list and of a job page are kept in $TRAINYARD_ARTIFACTS (default
.build/test-artifacts/); with TRAINYARD_UPDATE_SCREENSHOTS=1 they also replace docs/dashboard-*.png.
"""
import json
import os
import pathlib
import shutil
import time

import pytest

from conftest import ROOT, job_request, wait_for, wait_for_status

ARTIFACTS = pathlib.Path(os.environ.get("TRAINYARD_ARTIFACTS") or ROOT / ".build" / "test-artifacts")
ALICE = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111", "name": "alice"}
BOB = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222", "name": "bob"}
# A step every 0.5 s, for ten minutes unless stopped.
TRAINER = ('i=1; while [ $i -le 1200 ]; do echo "step $i loss=$(awk "BEGIN{print 10/$i}")"; '
           'i=$((i+1)); sleep 0.5; done')


def selenium_or_skip():
    problem = None
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError as error:
        problem = f"selenium is not installed ({error})"
    for binary in ("chromium", "chromedriver"):
        if not problem and not shutil.which(binary):
            problem = f"{binary} is not installed (Debian packages chromium, chromium-driver)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem + " [CI=true: scripts/install-deps.sh --test installs it]", pytrace=False)
        pytest.skip(problem)


@pytest.fixture
def browser():
    selenium_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def screenshot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("TRAINYARD_UPDATE_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(path, ROOT / "docs" / f"{name}.png")
    return path


def text_of(driver, element_id):
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def listed_names(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#jobs tbody tr[data-job]'), r => r.dataset.job)")


def test_list_shows_jobs_filters_and_updates_live(server, sm, browser):
    for name in ("dash-alpha", "dash-beta", "dash-gamma"):
        sm.create_training_job(**job_request(name))
    sm.create_training_job(**job_request("dash-failing", Environment={"TRAINYARD_SIMULATE_EXIT_CODE": "2"}))
    for name in ("dash-alpha", "dash-beta", "dash-gamma", "dash-failing"):
        wait_for_status(sm, name)
    sm.create_training_job(**job_request("dash-stopped", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "600"}))
    wait_for(lambda: sm.describe_training_job(TrainingJobName="dash-stopped")["SecondaryStatus"] == "Training", timeout=10)
    sm.stop_training_job(TrainingJobName="dash-stopped")
    wait_for_status(sm, "dash-stopped")
    sm.create_training_job(**job_request("dash-running", Environment={"TRAINYARD_SIMULATE_TRAINING_SECONDS": "600"}))
    browser.get(server.endpoint + "/")
    wait_for(lambda: len(listed_names(browser)) == 6, timeout=10, message="six rows")
    # Newest first.
    assert listed_names(browser) == ["dash-running", "dash-stopped", "dash-failing", "dash-gamma", "dash-beta", "dash-alpha"]
    assert "Failed" in text_of(browser, "jobs")
    wait_for(lambda: "Training" in text_of(browser, "jobs"), timeout=10, message="the running job in Training")
    screenshot(browser, "dashboard-list")

    # Live: a job created now shows up without a reload.
    sm.create_training_job(**job_request("dash-delta"))
    wait_for(lambda: "dash-delta" in listed_names(browser), timeout=5, message="the new job in the list")

    browser.find_element("id", "name-filter").send_keys("al")
    wait_for(lambda: listed_names(browser) == ["dash-alpha"], timeout=5, message="the name filter")
    browser.find_element("id", "name-filter").clear()
    browser.execute_script("const s = document.getElementById('status-filter'); s.value = 'Failed';"
                           "s.dispatchEvent(new Event('change'))")
    wait_for(lambda: listed_names(browser) == ["dash-failing"], timeout=5, message="the status filter")
    browser.execute_script("const s = document.getElementById('status-filter'); s.value = '';"
                           "s.dispatchEvent(new Event('change'));"
                           "const o = document.getElementById('sort'); o.value = 'Name/Ascending';"
                           "o.dispatchEvent(new Event('change'))")
    wait_for(lambda: listed_names(browser)[:2] == ["dash-alpha", "dash-beta"], timeout=5, message="sorting by name")

    # Dark mode follows the system's preference.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 26)", background
    # A phone-sized window still shows the list (narrow columns are hidden).
    browser.set_window_size(390, 844)
    assert browser.find_element("css selector", "#jobs tbody tr td a").is_displayed()
    assert not browser.find_element("css selector", "#jobs thead th.hide-narrow").is_displayed()
    screenshot(browser, "dashboard-list-phone-dark")


def test_paging_over_more_jobs_than_a_page(server, sm, browser):
    for i in range(105):
        sm.create_training_job(**job_request(f"page-{i:03d}"))
    browser.get(server.endpoint + "/")
    wait_for(lambda: len(listed_names(browser)) == 100, timeout=10, message="a full first page")
    browser.find_element("id", "next").click()
    wait_for(lambda: listed_names(browser) == [f"page-{i:03d}" for i in range(4, -1, -1)], timeout=5,
             message="the second page")
    browser.find_element("id", "prev").click()
    wait_for(lambda: listed_names(browser)[:1] == ["page-104"], timeout=5, message="the first page again")


def test_running_job_logs_follow_chart_grows_and_stop_stops(docker_server, docker_jobs, browser):
    sm, logs = docker_server.client(), docker_server.client("logs")
    name = docker_jobs.name("dash-live")
    request = job_request(name, HyperParameters={"epochs": "1200", "lr": "0.01"})
    request["AlgorithmSpecification"].update({
        "ContainerEntrypoint": ["/bin/sh", "-c", TRAINER],
        "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]})
    sm.create_training_job(**request)
    browser.get(f"{docker_server.endpoint}/#/jobs/{name}")
    wait_for(lambda: "step 3 " in text_of(browser, "log"), timeout=30, message="the first lines in the log view")

    # Each new line the server stores is on the page within 2 s.
    for _ in range(3):
        stream = wait_for(lambda: logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name + "/")["logStreams"], timeout=10)
        newest = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream[0]["logStreamName"], limit=1)["events"][-1]["message"]
        stored_at = time.monotonic()
        wait_for(lambda: newest in text_of(browser, "log"), timeout=2, interval=0.02, message=f"'{newest}' on the page")
        assert time.monotonic() - stored_at <= 2.0

    # The metric chart gains points while the job trains.
    chart_points = "const c = document.querySelector('.chart[data-metric=\"train:loss\"]'); return c ? +(c.dataset.points || 0) : 0"
    first = wait_for(lambda: browser.execute_script(chart_points), timeout=10, message="a chart with points")
    wait_for(lambda: browser.execute_script(chart_points) > first, timeout=10, message="the chart to gain points")

    # Every Describe field, the timeline and the hyperparameters are shown.
    describe = text_of(browser, "describe")
    for field in ("TrainingJobArn", "AlgorithmSpecification", "ResourceConfig", "StoppingCondition", "CreationTime"):
        assert field in describe
    assert "Training" in text_of(browser, "timeline")
    assert "lr" in text_of(browser, "hyperparameters") and "0.01" in text_of(browser, "hyperparameters")

    # Search runs FilterLogEvents: only matching lines, the term marked.
    browser.find_element("id", "log-search").send_keys('"step 2 "')
    wait_for(lambda: text_of(browser, "log").strip().startswith("step 2 loss=5"), timeout=5, message="search results")
    assert browser.find_elements("css selector", "#log mark")
    browser.find_element("id", "log-search").clear()
    browser.execute_script("document.getElementById('log-search').dispatchEvent(new Event('input'))")
    wait_for(lambda: "step 1 " in text_of(browser, "log") and not browser.find_elements("css selector", "#log mark"),
             timeout=5, message="the whole log again")
    wait_for(lambda: browser.execute_script(chart_points) >= 12, timeout=20, message="a dozen points")
    browser.set_window_size(1280, 1300)
    screenshot(browser, "dashboard-job")

    # Stop asks first; dismissing it keeps the job running.
    browser.find_element("id", "stop").click()
    browser.switch_to.alert.dismiss()
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    browser.find_element("id", "stop").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped"),
             timeout=5, message="the stop request")
    wait_for_status(sm, name, timeout=60)
    wait_for(lambda: text_of(browser, "job-status").startswith("Stopped"), timeout=5, message="Stopped on the page")
    assert not browser.find_element("id", "stop").is_displayed()

    # The model of a stopped job is uploaded too; its link downloads it through the S3 API.
    href = wait_for(lambda: browser.execute_script(
        "const a = Array.from(document.querySelectorAll('#artifacts a')).find(a => a.textContent.endsWith('model.tar.gz'));"
        "return a && a.getAttribute('href')"), timeout=5, message="the model link")
    assert href == f"/bucket/output/{name}/output/model.tar.gz"
    downloaded = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer().then(b => done([r.status, Array.from(new Uint8Array(b).slice(0, 2))])))",
        href)
    assert downloaded == [200, [0x1F, 0x8B]]  # gzip


def test_clone_as_new_job(server, sm, browser):
    sm.create_training_job(**job_request("dash-original", HyperParameters={"epochs": "3"}))
    wait_for_status(sm, "dash-original")
    browser.get(f"{server.endpoint}/#/jobs/dash-original")
    wait_for(lambda: text_of(browser, "job-status").startswith("Completed"), timeout=10)
    browser.find_element("id", "clone").click()
    request = json.loads(browser.find_element("id", "clone-json").get_attribute("value"))
    assert request["HyperParameters"] == {"epochs": "3"}
    assert "TrainingJobStatus" not in request and "TrainingJobArn" not in request
    request["TrainingJobName"] = "dash-clone"
    request["HyperParameters"]["epochs"] = "5"
    browser.execute_script("document.getElementById('clone-json').value = arguments[0]", json.dumps(request))
    browser.find_element("id", "clone-submit").click()
    wait_for(lambda: browser.current_url.endswith("#/jobs/dash-clone"), timeout=5, message="the clone's page")
    assert sm.describe_training_job(TrainingJobName="dash-clone")["HyperParameters"] == {"epochs": "5"}
    # An invalid request shows SageMaker's error in the dialog.
    wait_for(lambda: text_of(browser, "job-name") == "dash-clone", timeout=5)
    browser.find_element("id", "clone").click()
    request["TrainingJobName"] = "dash-clone"  # taken
    browser.execute_script("document.getElementById('clone-json').value = arguments[0]", json.dumps(request))
    browser.find_element("id", "clone-submit").click()
    wait_for(lambda: "ResourceInUse" in text_of(browser, "clone-error"), timeout=5, message="ResourceInUse shown")


def test_sigv4_login_shows_only_the_accounts_jobs_and_refuses_a_wrong_secret(server_factory, tmp_path, browser):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    server = server_factory(extra_args=["--auth", "sigv4", "--credentials-file", str(credentials),
                                        "--simulated-phase-seconds", "0.2"])
    import boto3
    for who, name in ((ALICE, "alice-job"), (BOB, "bob-job")):
        client = boto3.client("sagemaker", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id=who["accessKeyId"], aws_secret_access_key=who["secretAccessKey"])
        request = job_request(name, RoleArn=f"arn:aws:iam::{who['accountId']}:role/Trainer")
        # The job page then also makes a signed CloudWatch call (GetMetricData, service "monitoring").
        request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss", "Regex": "loss=(\\S+)"}]
        client.create_training_job(**request)
        wait_for_status(client, name)

    browser.get(server.endpoint + "/")
    wait_for(lambda: browser.find_element("id", "login").is_displayed(), timeout=10, message="the sign-in form")

    def sign_in(secret):
        for field, value in (("accessKeyId", ALICE["accessKeyId"]), ("secretAccessKey", secret)):
            element = browser.find_element("name", field)
            element.clear()
            element.send_keys(value)
        browser.find_element("css selector", "#login-form button[type=submit]").click()

    sign_in("not-alice-secret")
    wait_for(lambda: "InvalidSignatureException" in text_of(browser, "login-error"), timeout=5,
             message="AWS's error for a wrong secret")
    assert not browser.find_element("id", "list").is_displayed()

    sign_in(ALICE["secretAccessKey"])
    wait_for(lambda: listed_names(browser) == ["alice-job"], timeout=10, message="only Alice's jobs")
    # The job page's signed calls (SageMaker, Logs, CloudWatch) work too.
    browser.get(f"{server.endpoint}/#/jobs/alice-job")
    wait_for(lambda: text_of(browser, "job-status").startswith("Completed"), timeout=10)
    assert "111111111111" in text_of(browser, "describe")
    wait_for(lambda: browser.execute_script(
        "const c = document.querySelector('.chart[data-metric=\"loss\"]'); return c && c.dataset.points === '0'"),
        timeout=10, message="the (empty) chart from a signed GetMetricData")
    assert text_of(browser, "job-error") == ""
    # Bob's job is "not found" for Alice.
    browser.get(f"{server.endpoint}/#/jobs/bob-job")
    wait_for(lambda: "Requested resource not found" in text_of(browser, "job-error"), timeout=10)


def test_browser_signatures_equal_botocores(server, browser):
    """The page's SigV4 (WebCrypto) against botocore's for the same request and instant."""
    import datetime
    import unittest.mock

    from botocore.auth import S3SigV4QueryAuth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    browser.get(server.endpoint + "/")
    wait_for(lambda: browser.execute_script("return !!window.SigV4"), timeout=10)
    host = server.endpoint.split("//")[1]
    signed = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const RealDate = Date;
        window.Date = class extends RealDate { constructor(...a) { super(...(a.length ? a : ["2026-12-06T03:00:00Z"])); } };
        const credentials = {accessKeyId: "AKID", secretAccessKey: "secret", region: "us-east-1"};
        Promise.all([
          SigV4.sign({method: "POST", path: "/", body: '{"MaxResults":1}', credentials, service: "monitoring",
                      headers: {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"}}),
          SigV4.presign({path: "/bucket/a b/model.tar.gz", credentials}),
        ]).then(([headers, url]) => { window.Date = RealDate; done([headers.Authorization, url]); });
    """)
    credentials = Credentials("AKID", "secret")
    with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=datetime.datetime(2026, 12, 6, 3)):
        request = AWSRequest(method="POST", url=f"http://{host}/", data=b'{"MaxResults":1}', headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"})
        SigV4Auth(credentials, "monitoring", "us-east-1").add_auth(request)
        presigned = AWSRequest(method="GET", url=f"http://{host}/bucket/a%20b/model.tar.gz")
        S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=3600).add_auth(presigned)
    assert signed[0] == request.headers["Authorization"]
    assert f"http://{host}{signed[1]}" == presigned.url


def test_the_page_and_its_files_are_served_without_a_browser(server):
    import urllib.request
    with urllib.request.urlopen(server.endpoint + "/", timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
        assert b"/_dashboard/app.js" in response.read()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    with urllib.request.urlopen(server.endpoint + "/_dashboard/chart.min.js", timeout=10) as response:
        assert b"Chart.js v3" in response.read(400)  # Debian's libjs-chart.js
    status, _, _ = server.raw("/_dashboard/missing.js", method="GET")
    assert status == 404
    # A signed GET / is not the page (S3's ListBuckets is a signed GET /).
    status, _, _ = server.raw("/", method="GET", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert status != 200
