#!/usr/bin/env python3
"""Trainyard's S3 API vs moto_server's, side by side in one run (issue 11 item 8).

Measures, with the release build (--auth none) and moto_server on loopback:
  * GetObject and PutObject of 4 KiB objects under wrk (req/s, p50, p99), peers alternating;
  * a 1 GiB multipart upload (16 parts of 64 MiB, 4 connections) and its download (1 connection,
    then 4 ranged connections), in MB/s, next to `dd` writing and reading the same file on the same
    disk (the floor), with the server's peak RSS sampled every 20 ms while the bytes move;
  * ListObjectsV2 of a bucket of --list-keys keys (1000 per page, every page).

    bench/s3.py                  # full run
    bench/s3.py --quick          # smoke setting
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run import Peer, build_release, free_port, run_wrk  # noqa: E402

AUTH = {"X-Amz-Date": "20260101T000000Z", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000"}
MiB = 1 << 20


def request(peer, method, path, body=None, headers=None, sink=False):
    connection = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=600, blocksize=MiB)
    connection.request(method, path, body=body, headers={**AUTH, **(headers or {})})
    response = connection.getresponse()
    if sink:
        total, buffer = 0, bytearray(MiB)
        while True:
            count = response.readinto(buffer)
            if not count:
                break
            total += count
        data = total
    else:
        data = response.read()
    connection.close()
    if response.status >= 300:
        raise SystemExit(f"{peer.name}: {method} {path} -> {response.status} {data[:300] if isinstance(data, bytes) else ''}")
    return response, data


class RSSSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            try:
                for line in open(f"/proc/{self.pid}/status"):
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return self.peak / MiB


def dd(args):
    result = subprocess.run(["dd", *args], capture_output=True, text=True)
    match = re.search(r"copied, ([\d.]+) s", result.stderr)
    return float(match.group(1))


def multipart_upload(peer, bucket, key, path, part_size, connections):
    _, data = request(peer, "POST", f"/{bucket}/{key}?uploads")
    upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", data).group(1).decode()
    size = path.stat().st_size
    parts = [(n + 1, n * part_size, min(part_size, size - n * part_size)) for n in range((size + part_size - 1) // part_size)]

    def put(part):
        number, offset, length = part
        with open(path, "rb") as file:
            file.seek(offset)
            body = file.read(length)
        response, _ = request(peer, "PUT", f"/{bucket}/{key}?partNumber={number}&uploadId={upload_id}", body=body,
                              headers={"Content-Length": str(length)})
        return number, response.getheader("ETag")
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        etags = sorted(pool.map(put, parts))
    document = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in etags) + "</CompleteMultipartUpload>"
    request(peer, "POST", f"/{bucket}/{key}?uploadId={upload_id}", body=document.encode())


def ranged_download(peer, bucket, key, size, connections):
    step = (size + connections - 1) // connections

    def get(index):
        first, last = index * step, min(size, (index + 1) * step) - 1
        _, count = request(peer, "GET", f"/{bucket}/{key}", headers={"Range": f"bytes={first}-{last}"}, sink=True)
        return count
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        return sum(pool.map(get, range(connections)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--list-keys", type=int, default=100_000)
    parser.add_argument("--skip-moto-large", action="store_true", help="large transfers against Trainyard only")
    parser.add_argument("--only", default="small,large,list", help="which parts to run (comma-separated)")
    parser.add_argument("--trainyard-only", action="store_true", help="no moto_server (for re-measuring one side)")
    parser.add_argument("--binary")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.connections, args.rounds, args.large_mib, args.list_keys = 1, "16", 1, 64, 2000
    binary = pathlib.Path(args.binary) if args.binary else build_release()
    work = pathlib.Path(tempfile.mkdtemp(prefix="trainyard-s3-bench-", dir=os.environ.get("BENCH_DIR")))
    trainyard_port, moto_port = free_port(), free_port()
    trainyard = Peer("trainyard", [str(binary), "serve", "--runtime", "simulated", "--port", str(trainyard_port),
                                   "--data-dir", str(work / "data"), "--log-level", "warning"], trainyard_port, "/health")
    moto = Peer("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_port, "/moto-api/")
    peers = [trainyard] if args.trainyard_only else [trainyard, moto]
    parts = set(args.only.split(","))
    results = {"small": [], "large": {}, "list": {}}
    try:
        for peer in peers:
            peer.start(work)
            request(peer, "PUT", "/bench")
            for index in range(100):
                request(peer, "PUT", f"/bench/bench-{index}", body=b"x" * 4096)

        # Small objects under wrk, peers alternating round by round.
        for label, script in ([("GetObject 4 KiB", "s3get.lua"), ("PutObject 4 KiB", "s3put.lua")] if "small" in parts and len(peers) == 2 else []):
            for conns in [int(c) for c in args.connections.split(",")]:
                samples = {peer.name: [] for peer in peers}
                for round_index in range(args.rounds):
                    for peer in (peers if round_index % 2 == 0 else list(reversed(peers))):
                        env = {"BENCH_BUCKET": "bench", "BENCH_KEYS": "100", "BENCH_RUN": f"{round_index}{conns}{int(time.time())}"}
                        samples[peer.name].append(run_wrk(peer, script, conns, args.seconds, env))
                row = {"operation": label, "connections": conns}
                for name, runs in samples.items():
                    row[name] = {"rps": statistics.median(r["rps"] for r in runs),
                                 "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                                 "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                                 "errors": sum(r["errors"] + r["non2xx"] for r in runs)}
                row["ratio"] = row["trainyard"]["rps"] / max(row["moto"]["rps"], 1e-9)
                results["small"].append(row)
                t, m = row["trainyard"], row["moto"]
                print(f"{label:<18} c={conns:<3} trainyard {t['rps']:>8.0f} req/s p50 {t['p50_ms']:6.2f} ms p99 {t['p99_ms']:6.2f} ms "
                      f"(errors {t['errors']}) | moto {m['rps']:>6.0f} req/s p99 {m['p99_ms']:8.2f} ms | {row['ratio']:.1f}x", flush=True)

        # Large transfers, and the disk floor for the same bytes on the same disk.
        size = args.large_mib * MiB
        if "large" not in parts:
            size = 0
        source = work / "large.bin"
        with open(source, "wb") if size else open(os.devnull, "wb") as file:
            block = os.urandom(MiB)
            for _ in range(args.large_mib if size else 0):
                file.write(block)
        floor_file = work / "data" / "dd-floor.bin"
        large_peers = [] if not size else (peers if not args.skip_moto_large else [trainyard])
        if not size:
            source.touch()
            floor_file.touch()
        write_seconds = dd([f"if={source}", f"of={floor_file}", "bs=8M"]) if size else 1
        write_sync_seconds = dd([f"if={source}", f"of={floor_file}", "bs=8M", "conv=fdatasync"]) if size else 1
        read_seconds = dd([f"if={floor_file}", "of=/dev/null", "bs=8M"]) if size else 1
        floor_file.unlink()
        floor = {"dd write MB/s": size / write_seconds / 1e6, "dd write+fdatasync MB/s": size / write_sync_seconds / 1e6,
                 "dd read MB/s": size / read_seconds / 1e6}
        results["large"]["floor"] = floor
        if size:
            print(f"floor ({args.large_mib} MiB, same disk): dd write {floor['dd write MB/s']:.0f} MB/s, "
                  f"write+fdatasync {floor['dd write+fdatasync MB/s']:.0f} MB/s, read {floor['dd read MB/s']:.0f} MB/s", flush=True)
        for peer in large_peers:
            sampler = RSSSampler(peer.process.pid)
            rss_before = peer.rss_mib()
            sampler.start()
            cpu_before = cpu_seconds(peer.process.pid)
            started = time.perf_counter()
            multipart_upload(peer, "bench", "large.bin", source, 64 * MiB, 4)
            upload = size / (time.perf_counter() - started) / 1e6
            upload_cpu = cpu_seconds(peer.process.pid) - cpu_before
            started = time.perf_counter()
            _, received = request(peer, "GET", "/bench/large.bin", sink=True)
            download = size / (time.perf_counter() - started) / 1e6
            assert received == size, (received, size)
            started = time.perf_counter()
            assert ranged_download(peer, "bench", "large.bin", size, 4) == size
            ranged = size / (time.perf_counter() - started) / 1e6
            peak = sampler.stop()
            results["large"][peer.name] = {"upload MB/s": upload, "upload server CPU s": upload_cpu, "download MB/s": download, "download 4 ranges MB/s": ranged,
                                           "RSS before MiB": rss_before, "peak RSS MiB": peak}
            print(f"{peer.name:<9} 1 GiB-class multipart upload {upload:7.0f} MB/s, download {download:7.0f} MB/s "
                  f"(4 ranged connections {ranged:7.0f} MB/s); RSS {rss_before:.0f} MiB before, peak {peak:.0f} MiB; "
                  f"server CPU for the upload {upload_cpu:.1f} s", flush=True)
            request(peer, "DELETE", "/bench/large.bin")
        source.unlink()

        # ListObjectsV2 of a large bucket: keys created with 8 connections, then every page read.
        for peer in (peers if "list" in parts else []):
            request(peer, "PUT", "/listing")
            started = time.perf_counter()

            def put_range(start):
                connection = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=60)
                for index in range(start, min(args.list_keys, start + 1000)):
                    connection.request("PUT", f"/listing/dir{index % 10}/key-{index:07d}", body=b"v", headers=AUTH)
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        raise SystemExit(f"{peer.name}: PUT -> {response.status}")
                connection.close()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(put_range, range(0, args.list_keys, 1000)))
            fill = time.perf_counter() - started
            started = time.perf_counter()
            token, pages, keys, page_times = None, 0, 0, []
            while True:
                path = "/listing?list-type=2&max-keys=1000" + (f"&continuation-token={urllib_quote(token)}" if token else "")
                page_started = time.perf_counter()
                _, data = request(peer, "GET", path)
                page_times.append(time.perf_counter() - page_started)
                pages += 1
                keys += data.count(b"<Key>")
                match = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", data)
                if not match:
                    break
                token = match.group(1).decode()
            total = time.perf_counter() - started
            assert keys == args.list_keys, (peer.name, keys)
            page_times.sort()
            results["list"][peer.name] = {"keys": keys, "pages": pages, "seconds": total, "fill seconds": fill,
                                          "page p50 ms": page_times[len(page_times) // 2] * 1000,
                                          "page p99 ms": page_times[min(len(page_times) - 1, int(len(page_times) * 0.99))] * 1000}
            r = results["list"][peer.name]
            print(f"{peer.name:<9} ListObjectsV2 of {keys} keys: {pages} pages in {total:.2f} s "
                  f"(page p50 {r['page p50 ms']:.1f} ms, p99 {r['page p99 ms']:.1f} ms); filled in {fill:.1f} s", flush=True)
        if "moto" in results["list"] and "trainyard" in results["list"]:
            ratio = results["list"]["moto"]["seconds"] / results["list"]["trainyard"]["seconds"]
            print(f"ListObjectsV2 ratio (moto time / trainyard time): {ratio:.1f}x")
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(work, ignore_errors=True)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def urllib_quote(text):
    import urllib.parse
    return urllib.parse.quote(text, safe="")


if __name__ == "__main__":
    main()
