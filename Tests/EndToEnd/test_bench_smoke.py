"""The benchmark harness runs end to end on a tiny setting (its numbers are not checked here:
speed is measured by bench/run.py itself, never asserted in tests)."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import BINARY, ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None or shutil.which("moto_server") is None, reason="wrk or moto_server is not installed")


def test_bench_harness_runs_on_a_tiny_setting(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--binary", BINARY, "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    operations = {row["operation"] for row in report["results"]}
    assert operations == {"DescribeTrainingJob", "ListTrainingJobs(100)", "ListTrainingJobs(100, NameContains)",
                          "CreateTrainingJob"}
    for row in report["results"]:
        for peer in ("trainyard", "moto"):
            assert row[peer]["rps"] > 0
        assert row["trainyard"]["errors"] == 0
    assert "ratio" in result.stdout
