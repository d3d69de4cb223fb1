"""The S3 REST API on Trainyard's port (issue 11), driven by boto3 and raw HTTP: buckets, objects,
listings, multipart uploads, the payload forms clients send, presigned URLs, accounts, and the keys
a folder cannot hold."""
import base64
import datetime
import hashlib
import hmac
import http.client
import io
import json
import os
import zlib

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from conftest import ACCOUNT, REGION

ALICE = {"accessKeyId": "AKIAALICE0000000001", "secretAccessKey": "alice-secret", "accountId": "111111111111", "name": "alice"}
BOB = {"accessKeyId": "AKIABOB00000000001", "secretAccessKey": "bob-secret", "accountId": "222222222222", "name": "bob"}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    from conftest import TrainyardServer
    server = TrainyardServer(tmp_path_factory.mktemp("s3"), extra_args=["--simulated-phase-seconds", "0.1"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_server):
    return s3_server.client("s3")


@pytest.fixture
def bucket(s3, request):
    import re
    name = ("b-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()))[:60].strip("-")
    s3.create_bucket(Bucket=name)
    return name


def s3_root(server):
    return server.data_dir / "s3"


def code_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


# MARK: buckets

def test_bucket_lifecycle(s3, s3_server):
    s3.create_bucket(Bucket="life")
    # us-east-1 answers 200 again to the owner (CreateBucket's documented exception).
    assert s3.create_bucket(Bucket="life")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "life" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket="life")["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == REGION
    assert s3.get_bucket_location(Bucket="life")["LocationConstraint"] is None
    assert (s3_root(s3_server) / "life").is_dir()
    s3.put_object(Bucket="life", Key="k", Body=b"x")
    assert code_of(lambda: s3.delete_bucket(Bucket="life")) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket="life", Key="k")
    s3.delete_bucket(Bucket="life")
    assert code_of(lambda: s3.head_bucket(Bucket="life")) == ("404", 404)
    assert code_of(lambda: s3.list_objects_v2(Bucket="life")) == ("NoSuchBucket", 404)
    assert code_of(lambda: s3.create_bucket(Bucket="Bad_Name")) == ("InvalidBucketName", 400)


def test_folder_made_by_hand_is_a_bucket_of_the_default_account(s3, s3_server):
    folder = s3_root(s3_server) / "handmade" / "data"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_bytes(b"1,2,3\n")
    assert "handmade" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    listed = s3.list_objects_v2(Bucket="handmade")["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        ("data/train.csv", 6, '"%s"' % hashlib.md5(b"1,2,3\n").hexdigest())]


# MARK: objects

def test_put_get_head_with_metadata_and_checksums(s3, bucket):
    body = b"hello world" * 100
    put = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=body, ContentType="text/plain",
                        Metadata={"owner": "alice", "run": "7"}, CacheControl="no-cache")
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "alice", "run": "7"}
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLength"] == len(body)
    # boto3 sent a CRC32 by default; it is stored and returned (and boto3 verified it on the way back).
    assert got["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ETag"] == put["ETag"]
    assert abs((head["LastModified"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 60
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="missing")) == ("NoSuchKey", 404)
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="missing")) == ("404", 404)
    assert code_of(lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k")) == ("NoSuchBucket", 404)


def test_default_content_type_and_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_ranges_and_conditions(s3, bucket):
    body = bytes(range(256)) * 1024  # 256 KiB: served from the file
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")["Body"].read() == body[10:20]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")
    assert part["Body"].read() == body[-5:] and part["ContentRange"] == f"bytes {len(body) - 5}-{len(body) - 1}/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=262100-")["Body"].read() == body[262100:]
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")) == ("InvalidRange", 416)
    etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", IfMatch='"nope"')) == ("PreconditionFailed", 412)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)) == ("304", 304)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=future)) == ("304", 304)
    assert s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=past)["ContentLength"] == len(body)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=past)) == ("PreconditionFailed", 412)
    # Conditional create.
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="r", Body=b"x", IfNoneMatch="*")) == ("PreconditionFailed", 412)


def test_delete_and_delete_objects(s3, bucket, s3_server):
    for key in ["a/1", "a/2", "b"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="b")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="b")["ResponseMetadata"]["HTTPStatusCode"] == 204
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a/1"}, {"Key": "a/2"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a/1", "a/2", "zz"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # Folders left empty go too, so they do not linger as common prefixes.
    assert not (s3_root(s3_server) / bucket / "a").exists()


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/csv", Metadata={"m": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"payload", "text/csv", {"m": "1"})
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   ContentType="application/json", Metadata={"n": "2"})
    got = s3.get_object(Bucket=bucket, Key="dst2")
    assert (got["ContentType"], got["Metadata"]) == ("application/json", {"n": "2"})
    assert code_of(lambda: s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")) == ("InvalidRequest", 400)
    assert code_of(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/nope")) == ("NoSuchKey", 404)


# MARK: listings

def test_list_objects_v2_prefix_delimiter_pagination(s3, bucket):
    keys = ["a.txt", "dir/x", "dir/y", "dir/sub/z", "dir-2/w", "e f+g.txt", "é/ü", "zz"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=bucket)
    # UTF-8 binary order: '-' (0x2D) before '/' (0x2F), so "dir-2/w" precedes "dir/...".
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys, key=lambda k: k.encode())
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "e f+g.txt", "zz"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir-2/", "dir/", "é/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["dir/x", "dir/y"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["dir/sub/"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="dir/x")["Contents"]] == ["dir/y", "e f+g.txt", "zz", "é/ü"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert [len(p.get("Contents", [])) for p in pages] == [3, 3, 2]
    assert [o["Key"] for p in pages for o in p["Contents"]] == sorted(keys, key=lambda k: k.encode())
    # Pages that end on a common prefix continue after the whole prefix.
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    items = [o["Key"] for p in pages for o in p.get("Contents", [])] + [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert sorted(items) == sorted(["a.txt", "e f+g.txt", "zz", "dir-2/", "dir/", "é/"])
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing")["KeyCount"] == 0


def test_list_objects_v1_and_versions(s3, bucket):
    for key in ["k1", "k2", "k3", "p/k4"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"v")
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}))
    assert [o["Key"] for p in pages for o in p["Contents"]] == ["k1", "k2", "k3", "p/k4"]
    assert s3.list_objects(Bucket=bucket, Marker="k2")["Contents"][0]["Key"] == "k3"
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("k1", "null", True), ("k2", "null", True), ("k3", "null", True), ("p/k4", "null", True)]
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None


# MARK: multipart

def test_multipart_upload(s3, bucket, s3_server):
    part1 = os.urandom(5 << 20)
    part2 = b"tail" * 1000
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big/object.bin", ContentType="application/x-data")
    uid = upload["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="big/object.bin", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big/object.bin", UploadId=uid, PartNumber=2, Body=part2)["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=uid)["Parts"]] == [1, 2]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    assert code_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="big/object.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}, {"PartNumber": 2, "ETag": e2}]})) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big/object.bin", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest() + "-2"
    assert done["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="big/object.bin")
    assert got["Body"].read() == part1 + part2 and got["ContentType"] == "application/x-data"
    assert (s3_root(s3_server) / bucket / "big" / "object.bin").read_bytes() == part1 + part2
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    assert code_of(lambda: s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=uid)) == ("NoSuchUpload", 404)


def test_multipart_small_part_abort_and_part_copy(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
    assert code_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})) == ("EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=uid)
    assert code_of(lambda: s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=3, Body=b"x")) == ("NoSuchUpload", 404)

    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789" * 10)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    e1 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=uid, PartNumber=1,
                             CopySource=f"{bucket}/source", CopySourceRange="bytes=10-29")["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="joined", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == (b"0123456789" * 10)[10:30]


def test_large_single_put_is_not_bound_by_the_json_body_limit(s3, bucket):
    """20 MiB in one PUT (the JSON API's limit is 8 MiB): streamed to disk, and back."""
    body = os.urandom(20 << 20)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    got = s3.get_object(Bucket=bucket, Key="large")
    assert got["ContentLength"] == len(body) and got["Body"].read() == body


# MARK: payload forms (raw HTTP)

def aws_chunked(body, chunk=64 << 10, trailer=None):
    out = b""
    for start in range(0, len(body), chunk):
        piece = body[start:start + chunk]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n"
    if trailer:
        out += trailer.encode() + b"\r\n"
    return out + b"\r\n"


def raw(server, method, path, body=b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.headers), data


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("size", [1000, 300 << 10])  # buffered, and streamed to disk
def test_aws_chunked_unsigned_with_crc32_trailer(s3, bucket, s3_server, size):
    body = os.urandom(size)
    encoded = aws_chunked(body, trailer="x-amz-checksum-crc32:" + crc32_b64(body))
    headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(len(body)), "x-amz-trailer": "x-amz-checksum-crc32",
               "Content-Length": str(len(encoded))}
    status, response_headers, _ = raw(s3_server, "PUT", f"/{bucket}/chunked", encoded, headers)
    assert status == 200, _
    assert response_headers["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == body
    bad = aws_chunked(body, trailer="x-amz-checksum-crc32:AAAAAA==")
    headers["Content-Length"] = str(len(bad))
    status, _, data = raw(s3_server, "PUT", f"/{bucket}/chunked2", bad, headers)
    assert status == 400 and b"<Code>BadDigest</Code>" in data
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="chunked2")) == ("404", 404)


def test_checksum_header_mismatch_is_refused(s3_server, bucket):
    status, _, data = raw(s3_server, "PUT", f"/{bucket}/bad", b"data", {"x-amz-checksum-crc32": crc32_b64(b"other")})
    assert status == 400 and b"<Code>BadDigest</Code>" in data
    status, _, data = raw(s3_server, "PUT", f"/{bucket}/bad", b"data",
                          {"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()})
    assert status == 400 and b"<Code>BadDigest</Code>" in data


def test_virtual_hosted_style(s3, bucket, s3_server):
    s3.put_object(Bucket=bucket, Key="v/key.txt", Body=b"virtual")
    status, _, data = raw(s3_server, "GET", "/v/key.txt", headers={"Host": f"{bucket}.localhost:{s3_server.port}"})
    assert (status, data) == (200, b"virtual")
    status, _, data = raw(s3_server, "GET", "/?list-type=2&prefix=v/", headers={"Host": f"{bucket}.localhost:{s3_server.port}"})
    assert status == 200 and b"<Key>v/key.txt</Key>" in data


# MARK: what a folder cannot hold, and what must not escape it

def test_keys_a_folder_cannot_hold_are_refused(s3, bucket, s3_server):
    s3.put_object(Bucket=bucket, Key="a", Body=b"file")
    code, status = code_of(lambda: s3.put_object(Bucket=bucket, Key="a/b", Body=b"x"))
    assert (code, status) == ("InvalidArgument", 400)
    s3.put_object(Bucket=bucket, Key="d/e", Body=b"x")
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"x")) == ("InvalidArgument", 400)
    for key in ["folder/", "x//y", "../escape", "p/./q", "p/../q"]:
        assert code_of(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x")) == ("InvalidArgument", 400), key
    # Nothing was overwritten or created outside the bucket.
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"file"
    assert s3.get_object(Bucket=bucket, Key="d/e")["Body"].read() == b"x"
    assert not (s3_root(s3_server) / "escape").exists()


def test_symlinks_in_a_bucket_are_not_followed(s3, bucket, s3_server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the store")
    folder = s3_root(s3_server) / bucket
    (folder / "link.txt").symlink_to(secret)
    (folder / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="link.txt")) == ("NoSuchKey", 404)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="linkdir/secret.txt")) == ("NoSuchKey", 404)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # A write through a linked folder is refused instead of landing outside.
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="linkdir/new.txt", Body=b"x"))[1] == 400
    assert not (tmp_path / "new.txt").exists()


def test_files_written_into_the_folder_are_objects(s3, bucket, s3_server):
    """Jobs write model.tar.gz straight into the folder: it lists and reads like any object."""
    path = s3_root(s3_server) / bucket / "out" / "job" / "output"
    path.mkdir(parents=True)
    (path / "model.tar.gz").write_bytes(b"model bytes")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [("out/job/output/model.tar.gz", '"%s"' % hashlib.md5(b"model bytes").hexdigest())]
    assert s3.get_object(Bucket=bucket, Key="out/job/output/model.tar.gz")["Body"].read() == b"model bytes"
    # Rewritten outside the API: the stale metadata is noticed.
    (path / "model.tar.gz").write_bytes(b"a new model!")
    assert s3.head_object(Bucket=bucket, Key="out/job/output/model.tar.gz")["ETag"] == '"%s"' % hashlib.md5(b"a new model!").hexdigest()


# MARK: ACLs and refusals

def test_private_acl_accepted_others_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")) == ("NotImplemented", 501)
    assert code_of(lambda: s3.get_bucket_policy(Bucket=bucket)) == ("NotImplemented", 501)
    assert code_of(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []}))[0] == "NotImplemented"


# MARK: accounts and signatures (--auth sigv4)

@pytest.fixture(scope="module")
def sigv4_server(tmp_path_factory):
    from conftest import TrainyardServer
    data = tmp_path_factory.mktemp("s3-sigv4")
    credentials = data / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    server = TrainyardServer(data / "data", extra_args=["--auth", "sigv4", "--credentials-file", str(credentials)])
    server.start()
    yield server
    server.stop()


def signed_client(server, who, secret=None, **config):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=who["accessKeyId"],
                        aws_secret_access_key=secret or who["secretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}, **config))


def test_buckets_belong_to_accounts(sigv4_server):
    alice, bob = signed_client(sigv4_server, ALICE), signed_client(sigv4_server, BOB)
    alice.create_bucket(Bucket="alices")
    alice.put_object(Bucket="alices", Key="k", Body=b"mine")
    assert code_of(lambda: bob.create_bucket(Bucket="alices")) == ("BucketAlreadyExists", 409)
    assert code_of(lambda: bob.get_object(Bucket="alices", Key="k")) == ("AccessDenied", 403)
    assert code_of(lambda: bob.put_object(Bucket="alices", Key="k2", Body=b"x")) == ("AccessDenied", 403)
    assert code_of(lambda: bob.put_object(Bucket="alices", Key="big", Body=b"x" * (1 << 20))) == ("AccessDenied", 403)
    assert code_of(lambda: bob.list_objects_v2(Bucket="alices")) == ("AccessDenied", 403)
    assert code_of(lambda: bob.head_bucket(Bucket="alices")) == ("403", 403)
    assert code_of(lambda: bob.delete_bucket(Bucket="alices")) == ("AccessDenied", 403)
    assert "alices" not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    assert "alices" in [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert code_of(lambda: bob.copy_object(Bucket="alices", Key="c", CopySource="alices/k")) == ("AccessDenied", 403)
    bob.create_bucket(Bucket="bobs")
    assert code_of(lambda: bob.copy_object(Bucket="bobs", Key="c", CopySource="alices/k")) == ("AccessDenied", 403)


def test_signature_errors(sigv4_server):
    alice = signed_client(sigv4_server, ALICE)
    alice.create_bucket(Bucket="sigs")
    assert code_of(lambda: signed_client(sigv4_server, ALICE, secret="wrong").list_objects_v2(Bucket="sigs")) == ("SignatureDoesNotMatch", 403)
    assert code_of(lambda: signed_client(sigv4_server, {**ALICE, "accessKeyId": "AKIAUNKNOWN"}).list_buckets()) == ("InvalidAccessKeyId", 403)
    status, _, data = raw(sigv4_server, "GET", "/sigs")
    assert status == 403 and b"<Code>AccessDenied</Code>" in data
    # Large signed bodies (streamed to disk) are verified too.
    alice.put_object(Bucket="sigs", Key="large", Body=b"y" * (3 << 20))
    assert alice.get_object(Bucket="sigs", Key="large")["ContentLength"] == 3 << 20


def test_presigned_get_and_put(sigv4_server):
    alice = signed_client(sigv4_server, ALICE)
    alice.create_bucket(Bucket="presign")
    # boto3 presigns S3 URLs with SigV2 unless told otherwise; SigV4 is what Trainyard verifies.
    alice = signed_client(sigv4_server, ALICE, signature_version="s3v4")
    put_url = alice.generate_presigned_url("put_object", Params={"Bucket": "presign", "Key": "via url.txt"}, ExpiresIn=300)
    assert requests.put(put_url, data=b"uploaded by url").status_code == 200
    get_url = alice.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "via url.txt"}, ExpiresIn=300)
    response = requests.get(get_url)
    assert (response.status_code, response.content) == (200, b"uploaded by url")
    tampered = get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
    response = requests.get(tampered)
    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content
    # boto3's default for S3 presigning is still SigV2 (AWSAccessKeyId/Signature/Expires): verified too.
    v2 = signed_client(sigv4_server, ALICE).generate_presigned_url(
        "get_object", Params={"Bucket": "presign", "Key": "via url.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in v2
    response = requests.get(v2)
    assert (response.status_code, response.content) == (200, b"uploaded by url")
    assert requests.get(v2.replace("Expires=", "Expires=1")).status_code == 403
    # A URL signed two days ago for one hour has expired.
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")
    response = requests.get(presign(sigv4_server, ALICE, "/presign/via%20url.txt", old, 3600))
    assert response.status_code == 403 and b"<Code>AccessDenied</Code>" in response.content
    assert b"Request has expired" in response.content
    fresh = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    response = requests.get(presign(sigv4_server, ALICE, "/presign/via%20url.txt", fresh, 3600))
    assert (response.status_code, response.content) == (200, b"uploaded by url")


def presign(server, who, path, amz_date, expires):
    """A presigned GET URL built by hand (SigV4 query-string form), for a chosen signing time."""
    import urllib.parse
    key, scope = signing_key(who["secretAccessKey"], amz_date, REGION)
    params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{who['accessKeyId']}/{scope}",
              "X-Amz-Date": amz_date, "X-Amz-Expires": str(expires), "X-Amz-SignedHeaders": "host"}
    query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(params.items()))
    canonical = "\n".join(["GET", path, query, f"host:127.0.0.1:{server.port}\n", "host", "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{server.endpoint}{path}?{query}&X-Amz-Signature={signature}"


def signing_key(secret, amz_date, region):
    """SigV4's derived key and credential scope for S3."""
    date = amz_date[:8]
    scope = f"{date}/{region}/s3/aws4_request"

    def sign(k, msg):
        return hmac.new(k, msg.encode(), hashlib.sha256).digest()
    signing_key = sign(sign(sign(sign(("AWS4" + secret).encode(), date), region), "s3"), "aws4_request")
    return signing_key, scope


def test_streaming_signed_chunks(sigv4_server):
    alice = signed_client(sigv4_server, ALICE)
    alice.create_bucket(Bucket="chunks")
    body = os.urandom(200 << 10)
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    key, scope = signing_key(ALICE["secretAccessKey"], amz_date, REGION)
    chunks = [body[i:i + (64 << 10)] for i in range(0, len(body), 64 << 10)] + [b""]
    encoded_length = sum(len(b"%x;chunk-signature=" % len(c)) + 64 + 2 + len(c) + 2 for c in chunks)
    headers = {"host": f"127.0.0.1:{sigv4_server.port}", "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "x-amz-date": amz_date, "x-amz-decoded-content-length": str(len(body)), "content-encoding": "aws-chunked",
               "content-length": str(encoded_length)}
    signed = sorted(headers)
    canonical = "\n".join(["PUT", "/chunks/streamed", "", "".join(f"{h.lower()}:{headers[h]}\n" for h in signed),
                           ";".join(h.lower() for h in signed), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    seed = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ALICE['accessKeyId']}/{scope}, "
                                f"SignedHeaders={';'.join(h.lower() for h in signed)}, Signature={seed}")

    def encode(tamper=False):
        previous, out = seed, b""
        for c in chunks:
            string = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, hashlib.sha256(b"").hexdigest(),
                                hashlib.sha256(c).hexdigest()])
            signature = hmac.new(key, string.encode(), hashlib.sha256).hexdigest()
            if tamper and c:
                signature = "0" * 64
            out += b"%x;chunk-signature=%s\r\n" % (len(c), signature.encode()) + c + b"\r\n"
            previous = signature
        return out
    payload = encode()
    assert len(payload) == encoded_length
    status, _, data = raw(sigv4_server, "PUT", "/chunks/streamed", payload, headers)
    assert status == 200, data
    assert alice.get_object(Bucket="chunks", Key="streamed")["Body"].read() == body
    status, _, data = raw(sigv4_server, "PUT", "/chunks/streamed", encode(tamper=True), headers)
    assert status == 403 and b"SignatureDoesNotMatch" in data
