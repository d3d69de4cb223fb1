#!/usr/bin/env bash
# Installs what building and running Trainyard needs on Debian, when it is missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

packages=(libevent-dev libsqlite3-dev libcurl4-openssl-dev pkg-config tar)
if $want_tests; then
    packages+=(docker.io busybox-static wrk)
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
    command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
fi
