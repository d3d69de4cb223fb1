"""The AWS CLI's high-level S3 commands against Trainyard: mb, cp (single PUT and multipart, a file
over the CLI's 8 MiB threshold), ls, sync, rb."""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import REGION


@pytest.fixture
def aws(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})

    def run(*args, check=True):
        result = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=300)
        if check:
            assert result.returncode == 0, result.stderr + result.stdout
        return result
    return run


def test_mb_cp_ls_rb(aws, server, tmp_path):
    aws("s3", "mb", "s3://cli-bucket")
    small = tmp_path / "small.txt"
    small.write_text("hello from the cli\n")
    aws("s3", "cp", str(small), "s3://cli-bucket/docs/small.txt")
    listing = aws("s3", "ls", "s3://cli-bucket/docs/").stdout
    assert "small.txt" in listing and " 19 " in listing
    back = tmp_path / "back.txt"
    aws("s3", "cp", "s3://cli-bucket/docs/small.txt", str(back))
    assert back.read_text() == "hello from the cli\n"
    assert (server.data_dir / "s3" / "cli-bucket" / "docs" / "small.txt").read_text() == "hello from the cli\n"
    assert aws("s3", "rb", "s3://cli-bucket", check=False).returncode != 0  # not empty
    aws("s3", "rb", "s3://cli-bucket", "--force")
    assert "cli-bucket" not in aws("s3", "ls").stdout


def test_multipart_cp_of_a_large_file(aws, server, tmp_path):
    """20 MiB: above the CLI's 8 MiB multipart threshold, so three 8 MiB-max parts."""
    aws("s3", "mb", "s3://cli-large")
    data = os.urandom(20 << 20)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    aws("s3", "cp", str(source), "s3://cli-large/large.bin")
    head = json.loads(aws("s3api", "head-object", "--bucket", "cli-large", "--key", "large.bin").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    back = tmp_path / "large.back"
    aws("s3", "cp", "s3://cli-large/large.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_sync_both_ways(aws, server, tmp_path):
    aws("s3", "mb", "s3://cli-sync")
    local = tmp_path / "local"
    for name in ["a.txt", "nested/b.txt", "nested/deeper/c.txt"]:
        path = local / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    aws("s3", "sync", str(local), "s3://cli-sync/data")
    listed = aws("s3", "ls", "--recursive", "s3://cli-sync/data/").stdout
    assert all(f"data/{name}" in listed for name in ["a.txt", "nested/b.txt", "nested/deeper/c.txt"])
    # A second sync uploads nothing (sizes and times match).
    assert aws("s3", "sync", str(local), "s3://cli-sync/data").stdout.strip() == ""
    copy = tmp_path / "copy"
    aws("s3", "sync", "s3://cli-sync/data", str(copy))
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()) == ["a.txt", "nested/b.txt", "nested/deeper/c.txt"]
    assert (copy / "nested" / "deeper" / "c.txt").read_text() == "nested/deeper/c.txt"
