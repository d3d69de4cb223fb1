"""Shared by the toolkit and SDK end-to-end tests: the sagemaker-training toolkit image, and how to
run a script in a job's container."""
import subprocess

import pytest

from conftest import ROOT

TOOLKIT_IMAGE = "trainyard-test/toolkit:latest"


@pytest.fixture(scope="session")
def toolkit_image(docker_engine):
    """The image built on AWS's training toolkit (scripts/test-images/toolkit.sh: Debian debootstrap +
    pip in a chroot, docker import). Minutes the first time on a machine, then cached by a hash of its
    inputs (scripts/test builds it before the tests run)."""
    subprocess.run([str(ROOT / "scripts" / "test-images" / "toolkit.sh")], check=True, timeout=1800)
    return TOOLKIT_IMAGE
