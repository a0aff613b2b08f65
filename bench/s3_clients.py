"""Compare object-store clients on the artifacts workload: upload and download of one large file to the
sandbox's S3 server (moto, loopback), plus `cp` of the same file on the same disk.

Run: `.venv/bin/python bench/s3_clients.py [--mib 256] [--runs 2]`. Each client runs in its own interpreter
(a worker mode of this file, importing only that client), because boto3 cannot share the project's venv:
minio from `.venv`, boto3 from `.tools/s3server` (moto brings it), obstore from `.tools/bench-obstore` when
that venv exists (`python3 -m venv .tools/bench-obstore && .tools/bench-obstore/bin/pip install obstore`).
Prints one table; the figures and the choice are in docs/benchmarks.md ("Object-store client").
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
PART = 16 * 1024 * 1024


def worker(client: str, endpoint: str, bucket: str, region: str, key: str, secret: str, path: str) -> dict[str, Any]:
    """One upload and one download of `path` with `client`; seconds each (and the peak RSS of the process)."""
    import resource

    target = path + f".{client}.down"
    name = f"bench/{client}/{os.path.basename(path)}"
    size = os.path.getsize(path)
    if client == "minio":
        from minio import Minio

        mc = Minio(endpoint.removeprefix("http://"), access_key=key, secret_key=secret, secure=False, region=region)
        start = time.perf_counter()
        mc.fput_object(bucket, name, path, part_size=PART)
        up = time.perf_counter() - start
        start = time.perf_counter()
        mc.fget_object(bucket, name, target)
        down = time.perf_counter() - start
    elif client == "boto3":
        import boto3
        from boto3.s3.transfer import TransferConfig

        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret
        )
        config = TransferConfig(multipart_chunksize=PART, multipart_threshold=PART)
        start = time.perf_counter()
        s3.upload_file(path, bucket, name, Config=config)
        up = time.perf_counter() - start
        start = time.perf_counter()
        s3.download_file(bucket, name, target, Config=config)
        down = time.perf_counter() - start
    elif client == "obstore":
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            bucket,
            endpoint=endpoint,
            region=region,
            access_key_id=key,
            secret_access_key=secret,
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )
        start = time.perf_counter()
        with open(path, "rb") as source:
            obstore.put(store, name, source, chunk_size=PART)
        up = time.perf_counter() - start
        start = time.perf_counter()
        with open(target, "wb") as out:
            for chunk in obstore.get(store, name).stream(min_chunk_size=PART):
                out.write(chunk)
        down = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown client {client}")
    assert os.path.getsize(target) == size, "short download"
    os.unlink(target)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"up": up, "down": down, "rss_mib": rss_mib}


def interpreters() -> dict[str, str]:
    found = {"minio": sys.executable}
    boto = REPO / ".tools" / "s3server" / "bin" / "python"
    if boto.exists():
        found["boto3"] = str(boto)
    obstore = REPO / ".tools" / "bench-obstore" / "bin" / "python"
    if obstore.exists():
        found["obstore"] = str(obstore)
    return found


def version_of(python: str, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return run.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--worker", nargs=7, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0

    from switchyard.sandbox.s3server import S3Server

    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="s3bench-") as tmp, S3Server() as server:
        path = os.path.join(tmp, "payload.bin")
        with open(path, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(1024 * 1024))
        cps = []
        for _ in range(args.runs):
            start = time.perf_counter()
            shutil.copyfile(path, path + ".cp")
            os.sync()
            cps.append(time.perf_counter() - start)
            os.unlink(path + ".cp")
        rows = [("cp (same disk, + sync)", "", size / statistics.median(cps) / 1e6, None, None)]
        for client, python in interpreters().items():
            package = {"minio": "minio", "boto3": "boto3", "obstore": "obstore"}[client]
            results = []
            for _ in range(args.runs):
                cmd = [python, __file__, "--worker", client, server.direct_endpoint, server.bucket, server.region,
                       server.access_key, server.secret_key, path]  # fmt: skip
                run = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if run.returncode != 0:
                    print(f"{client}: failed: {run.stderr[-800:]}", file=sys.stderr)
                    break
                results.append(json.loads(run.stdout))
            if not results:
                continue
            up = statistics.median(r["up"] for r in results)
            down = statistics.median(r["down"] for r in results)
            rss = max(r["rss_mib"] for r in results)
            rows.append((client, version_of(python, package), size / up / 1e6, size / down / 1e6, rss))
    print(f"{args.mib} MiB, median of {args.runs}, moto server on loopback (direct port, SigV4 auth on)")
    print("| client | version | upload MB/s | download MB/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for client, version, up_rate, down_rate, rss in rows:
        down_text = f"{down_rate:.0f}" if down_rate is not None else ""
        rss_text = f"{rss:.0f}" if rss is not None else ""
        print(f"| {client} | {version} | {up_rate:.0f} | {down_text} | {rss_text} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
