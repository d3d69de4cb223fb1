#!/usr/bin/env bash
# Installs what building and running Trainyard needs on Debian, when it is missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

# libjs-chart.js: the dashboard's charts (served from its installed path, DashboardAssets.swift).
packages=(libevent-dev libsqlite3-dev libcurl4-openssl-dev pkg-config tar libjs-chart.js)
if $want_tests; then
    # chromium + chromium-driver: the dashboard's browser tests (Tests/EndToEnd/test_dashboard.py);
    # debootstrap: the training-toolkit test image (scripts/test-images/toolkit.sh);
    # docker-registry: the registry Tests/EndToEnd/test_registry.py pulls from (scripts/registry.sh).
    # iproute2, util-linux (nsenter, unshare): the 2-node test swarm (scripts/swarm/up.sh).
    packages+=(docker.io busybox-static wrk chromium chromium-driver debootstrap docker-registry iproute2 util-linux)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if $want_tests; then
    # Real clients for the end-to-end tests (boto3, botocore, the AWS CLI and pytest usually come
    # preinstalled; pip installs them where they do not), schemathesis for fuzzing, moto_server
    # as the benchmark peer.
    python3 - <<'PY' || python3 -m pip install --quiet boto3 awscli pytest
import boto3, botocore, pytest, awscli  # noqa: F401
PY
    command -v st >/dev/null || python3 -m pip install --quiet schemathesis
    python3 -c 'import selenium' 2>/dev/null || python3 -m pip install --quiet selenium
    command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
    # The SageMaker Python SDK 2.x (Tests/EndToEnd/test_sagemaker_sdk.py). It brings about 30
    # packages (pandas, protobuf, fastapi, pathos, sagemaker-core, …; ~20 s) and moves attrs (<26),
    # packaging (<25) and rich (<15, via sagemaker-core) back, all within what the installed
    # packages accept. The clients the other tests use keep their installed versions: constrained.
    if ! SAGEMAKER_SUPPRESS_V2_WARNING=1 python3 -c '
import sys, sagemaker
sys.exit(0 if sagemaker.__version__.startswith("2.") else 1)' >/dev/null 2>&1; then
        constraints="$(mktemp)"
        python3 -m pip freeze 2>/dev/null \
            | grep -iE '^(boto3|botocore|s3transfer|awscli|moto|pytest)==' > "$constraints" || true
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
            -c "$constraints" 'sagemaker>=2,<3'
        rm -f "$constraints"
    fi
    # The SageMaker Python SDK 3.x (Tests/EndToEnd/test_sdk_toolkit.py) in a venv of its own: it and SDK
    # 2.x are both the package `sagemaker` and cannot share one environment.
    sdk3="${TRAINYARD_SDK3_VENV:-$HOME/.cache/trainyard/venv-sdk3}"
    if ! "$sdk3/bin/python" -c '
import sys, sagemaker.train
from importlib.metadata import version
sys.exit(0 if version("sagemaker").startswith("3.") else 1)' >/dev/null 2>&1; then
        python3 -m venv "$sdk3"
        PIP_ROOT_USER_ACTION=ignore "$sdk3/bin/python" -m pip install --quiet --disable-pip-version-check 'sagemaker>=3,<4'
    fi
fi
