"""Staging against the raw client: stage-out and stage-in of the same bytes to the sandbox's S3 server (moto).

Run: `.venv/bin/python bench/staging.py [--mib 128] [--files 16] [--runs 3]`. Writes `--files` files of
`--mib` MiB in all under an outputs/ tree, then times, each in a fresh interpreter as a Pod would run them:

- raw upload: minio `fput_object` of every file (no digest, no manifest) and raw download (`fget_object`);
- `python -m switchyard.artifacts.stage out --no-wait` (digest pass + upload + manifest) and
  `... stage in` (download of every file through the manifest, sha256 checked while streaming);
- `cp -r` of the tree on the same disk;
- a stage-in of an empty dependency list (the fixed per-node cost: interpreter, imports, client), p50/p99.

Prints one table (MB/s and the ratio to the raw transfer); the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.location import ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_STORE, store_env
from switchyard.artifacts.store import StoreSpec
from switchyard.sandbox.s3server import S3Server

RAW = """
import os, sys, time
from minio import Minio
endpoint, bucket, key, secret, mode, root, prefix = sys.argv[1:8]
mc = Minio(endpoint, access_key=key, secret_key=secret, secure=False, region="us-east-1")
files = sorted(p for p in os.listdir(root)) if mode == "up" else None
start = time.perf_counter()
if mode == "up":
    for name in files:
        mc.fput_object(bucket, f"{prefix}/{name}", os.path.join(root, name))
else:
    for obj in mc.list_objects(bucket, prefix=prefix + "/", recursive=True):
        mc.fget_object(bucket, obj.object_name, os.path.join(root, obj.object_name.rsplit("/", 1)[1]))
print(time.perf_counter() - start)
"""


# The staging entrypoint timed as RAW is: from after the imports to the end (client built inside, as in a Pod).
IN_PROCESS = """
import sys, time
from switchyard.artifacts import stage
start = time.perf_counter()
code = stage.main(sys.argv[1:])
print(time.perf_counter() - start)
sys.exit(code)
"""


def timed_inside(argv: list[str], env: dict[str, str]) -> float:
    return float(subprocess.run([sys.executable, "-c", IN_PROCESS, *argv], env=env, check=True,
                                capture_output=True, text=True).stdout)  # fmt: skip


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--overhead-runs", type=int, default=20)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    with S3Server() as server, tempfile.TemporaryDirectory(prefix="staging-bench-") as tmp:
        work = pathlib.Path(tmp)
        outputs = work / "up" / "switchyard" / "outputs"
        outputs.mkdir(parents=True)
        per_file = size // args.files
        for i in range(args.files):
            (outputs / f"part-{i:03d}").write_bytes(os.urandom(per_file))
        total = per_file * args.files
        spec = StoreSpec.model_validate(
            {"endpoint": server.endpoint, "bucket": server.bucket, "credentialsSecretRef": {"name": "x"}}
        )
        base = {
            **os.environ,
            ENV_STORE: store_env(spec),
            ENV_ACCESS_KEY: server.access_key,
            ENV_SECRET_KEY: server.secret_key,
        }
        host = server.host
        rows: dict[str, list[float]] = {
            "raw upload": [], "stage-out": [], "stage-out (after imports)": [],
            "raw download": [], "stage-in": [], "stage-in (after imports)": [], "cp": [],
        }  # fmt: skip
        for run in range(args.runs):
            raw_prefix = f"raw/{run}"
            rows["raw upload"].append(
                float(subprocess.run(
                    [sys.executable, "-c", RAW, host, server.bucket, server.access_key, server.secret_key, "up",
                     str(outputs), raw_prefix], check=True, capture_output=True, text=True).stdout)
            )  # fmt: skip
            down = work / f"raw-down-{run}"
            down.mkdir()
            rows["raw download"].append(
                float(subprocess.run(
                    [sys.executable, "-c", RAW, host, server.bucket, server.access_key, server.secret_key, "down",
                     str(down), raw_prefix], check=True, capture_output=True, text=True).stdout)
            )  # fmt: skip
            shutil.rmtree(down)
            prefix = mf.attempt_prefix(f"bench/{run}/", "a", 1)
            env = {**base, "SWITCHYARD_ROOT": str(work / "up" / "switchyard"),
                   "SWITCHYARD_TERMINATION_LOG": str(work / "tl")}  # fmt: skip
            stage = [sys.executable, "-m", "switchyard.artifacts.stage"]
            rows["stage-out"].append(
                timed(
                    [
                        *stage,
                        "out",
                        "--no-wait",
                        "--workflow-uid",
                        "u",
                        "--node",
                        "a",
                        "--attempt",
                        "1",
                        "--prefix",
                        prefix,
                    ],
                    env,
                )
            )
            out_args = ["out", "--no-wait", "--workflow-uid", "u", "--node", "a", "--attempt", "1"]
            rows["stage-out (after imports)"].append(timed_inside([*out_args, "--prefix", f"{prefix}-inside"], env))
            in_args = ["in", "--workflow-uid", "u", "--upstream", f"a={mf.manifest_key(prefix)}"]
            for row, timer in (
                ("stage-in", lambda a, e, stage=stage: timed([*stage, *a], e)),
                ("stage-in (after imports)", timed_inside),
            ):
                root = work / f"in-{run}" / "switchyard"
                env_in = {**base, "SWITCHYARD_ROOT": str(root), "SWITCHYARD_TERMINATION_LOG": str(work / "tl")}
                rows[row].append(timer(in_args, env_in))
                shutil.rmtree(root.parent)
            target = work / f"cp-{run}"
            rows["cp"].append(timed(["cp", "-r", str(outputs), str(target)], dict(os.environ)))
            shutil.rmtree(target)
        empty = work / "empty" / "switchyard"
        env_empty = {**base, "SWITCHYARD_ROOT": str(empty), "SWITCHYARD_TERMINATION_LOG": str(work / "tl")}
        overhead = sorted(
            timed([sys.executable, "-m", "switchyard.artifacts.stage", "in", "--workflow-uid", "u"], env_empty)
            for _ in range(args.overhead_runs)
        )
    mb = total / 1e6
    print(f"{total / 2**20:.0f} MiB in {args.files} files, {args.runs} runs (median), moto via its relay, loopback")
    print(f"{'step':<28}{'seconds':>10}{'MB/s':>10}{'vs raw':>10}")
    for name, values in rows.items():
        med = statistics.median(values)
        raw = statistics.median(rows["raw upload" if "upload" in name or "out" in name else "raw download"])
        ratio = f"{med / raw:.2f}x" if name.startswith("stage") else ""
        print(f"{name:<28}{med:>10.2f}{mb / med:>10.0f}{ratio:>10}")
    p99 = overhead[min(len(overhead) - 1, int(len(overhead) * 0.99))]
    print(f"per-node staging overhead (empty stage-in): p50 {statistics.median(overhead) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
