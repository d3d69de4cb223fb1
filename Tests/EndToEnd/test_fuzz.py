"""Property-based fuzzing of the served API with schemathesis, from openapi/trainyard.yaml.

Every generated request (valid and invalid by the schema) must get a non-5xx answer, and the server
must keep serving. The example count is bounded so the run takes well under a minute; raise
TRAINYARD_FUZZ_EXAMPLES for a longer run.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("st") is None, reason="schemathesis (st) is not installed")


def test_schemathesis_finds_no_server_error(server):
    examples = os.environ.get("TRAINYARD_FUZZ_EXAMPLES", "25")
    result = subprocess.run(
        ["st", "run", str(ROOT / "openapi" / "trainyard.yaml"), "--url", server.endpoint,
         "--checks", "not_a_server_error", "--max-examples", examples, "--request-timeout", "10",
         "--no-color"],
        capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 100, output[-2000:]
    # The server is still healthy afterwards.
    status, _, body = server.raw("/health", method="GET")
    assert status == 200 and body["status"] == "ok"
