"""Result cache: a cache hit against a real run of the same nodes (`Component.spec.cache`).

Run: `.venv/bin/python bench/cache_hit.py [--mib 8] [--runs 5]`. The real operator against the emulated API
server, the local runner (real processes: stage-in, the processor, stage-out) and the sandbox's S3 server
(moto). A Workflow `chunk -> sum` over an input artifact of `--mib` MiB of numbers runs `--runs` times with
cache-enabled Components (the first run is real and writes the entries, the others are hits) and `--runs`
times with the same Components uncached (all real). Measured: create -> Succeeded per Workflow (polled every
20 ms), p50 of the real runs and of the hits, and their ratio. The figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

from kubernetes import client, config

from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.s3server import S3Server
from switchyard.sandbox.waiting import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[1]
CRDS = sorted((ROOT / "crds").glob("*.yaml"))
NAMESPACE = "bench"
GROUP, VERSION = "switchyard.dev", "v1alpha1"


def create(custom: client.CustomObjectsApi, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, body)


def run_workflow(custom: client.CustomObjectsApi, name: str, suffix: str) -> tuple[float, dict[str, Any]]:
    nodes = [
        {"name": "chunk", "component": f"chunk{suffix}", "config": {"chunkSize": 1 << 20, "lines": True}},
        {"name": "sum", "component": f"sum{suffix}", "dependsOn": ["chunk"]},
    ]
    start = time.perf_counter()
    create(custom, "workflows", "Workflow", name, {"input": {"artifact": {"key": "inputs/bench.txt"}}, "nodes": nodes})

    def done() -> dict[str, Any] | None:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "workflows", name).get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    status = wait_for(done, 300, what=f"workflow {name} finished")
    elapsed = time.perf_counter() - start
    if status["phase"] != "Succeeded":
        raise SystemExit(f"{name} failed: {status.get('nodes')}")
    return elapsed, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Server(log_path=pathlib.Path(tmp) / "moto.log") as s3, \
            EmulatedCluster(crd_paths=CRDS, namespaces=[NAMESPACE]) as cluster:  # fmt: skip
        work = pathlib.Path(tmp)
        kubeconfig = cluster.write_kubeconfig(work / "kubeconfig", namespace=NAMESPACE)
        api = config.new_client_from_config(str(kubeconfig))
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "store-credentials"},
                                                  "stringData": {"accessKeyId": s3.access_key,
                                                                 "secretAccessKey": s3.secret_key}})  # fmt: skip
        store = {"endpoint": s3.host, "bucket": s3.bucket, "region": s3.region, "insecure": True,
                 "credentialsSecretRef": {"name": "store-credentials"}}  # fmt: skip
        create(custom, "artifactstores", "ArtifactStore", "default", {"s3": store})
        for suffix, cache in (("-cached", {"enabled": True}), ("-plain", {"enabled": False})):
            for name, processor in (("chunk", "chunking-processor"), ("sum", "numeric-processor")):
                create(custom, "components", "Component", f"{name}{suffix}",
                       {"image": "switchyard:0.1.0", "command": ["python", "-m", "switchyard.processors", processor],
                        "cache": cache})  # fmt: skip
        data = bytearray()
        n = 0
        while len(data) < args.mib << 20:
            n += 1
            data += f"{n}\n".encode()
        mc = make_client(StoreSpec.model_validate(store), Credentials(s3.access_key, s3.secret_key))
        mc.put_object(s3.bucket, "inputs/bench.txt", io.BytesIO(bytes(data)), len(data))
        operator = OperatorProcess(kubeconfig, work / "operator.log", namespaces=(NAMESPACE,)).start()
        operator.wait_ready()
        try:
            with LocalJobRunner(kubeconfig, namespace=NAMESPACE, workers=2) as runner:
                real = [run_workflow(custom, f"plain-{i}", "-plain")[0] for i in range(args.runs)]
                cached = [run_workflow(custom, f"cached-{i}", "-cached") for i in range(args.runs)]
            if runner.errors:
                raise SystemExit(f"runner errors: {runner.errors[:3]}")
        finally:
            operator.stop()
    reasons = [sorted({n.get("reason") or "ran" for n in s["nodes"].values()}) for _, s in cached]
    if reasons[0] != ["ran"] or any(r != ["Cached"] for r in reasons[1:]):
        raise SystemExit(f"unexpected cache outcomes: {reasons}")
    first, hits = cached[0][0], [t for t, _ in cached[1:]]
    print(f"input {len(data)} bytes; chunk -> sum; {args.runs} runs each")
    print(f"real run (uncached), create -> Succeeded: p50 {statistics.median(real):.2f} s "
          f"(min {min(real):.2f}, max {max(real):.2f})")  # fmt: skip
    print(f"first cached run (real, writes the entries): {first:.2f} s")
    print(f"cache hit (both nodes Cached, no Job): p50 {statistics.median(hits):.2f} s "
          f"(min {min(hits):.2f}, max {max(hits):.2f})")  # fmt: skip
    print(f"hit / real: {statistics.median(hits) / statistics.median(real):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
