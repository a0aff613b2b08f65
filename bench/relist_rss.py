"""Peak memory of the Job and Pod informers' (re)list: one unpaged list versus pages of 500.

Run: `python bench/relist_rss.py [--objects N] [--job-bytes B] [--pod-bytes B]`. The emulator (its own
process) is filled with N Jobs and N Pods of a workflow (finished ones are kept until their Workflow goes),
each padded with `managedFields` to about the given JSON size (a real Job the operator renders is ~5 KB
with managedFields, its Pod ~7 KB once the kubelet wrote its status and a termination message). Then, for
each page size, a fresh interpreter starts the operator's two informers (`switchyard.k8s.informer`), waits
for both lists and reports its peak RSS (`ru_maxrss`) and its RSS once the lists are digested. Page size 0
is one unpaged list (what the informer did before). Recorded in docs/benchmarks.md ("Informer relist").
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import kubernetes

from switchyard.k8s.client import direct

NAMESPACE = "relist"
WORKFLOW = "big"


def pad(body: dict[str, Any], size: int) -> dict[str, Any]:
    """Grow `metadata.managedFields` until the body's JSON is about `size` bytes (what field managers add)."""
    missing = size - len(json.dumps(body))
    if missing > 200:
        fields = {f"f:field-{i:04d}": {} for i in range(max(1, missing // 18))}
        body["metadata"]["managedFields"] = [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "batch/v1",
                "time": "2026-12-01T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": fields},
                "subresource": "status",
            }
        ]
    return body


def labels(i: int) -> dict[str, str]:
    return {
        "switchyard.dev/workflow": WORKFLOW,
        "switchyard.dev/node": f"node-{i:05d}",
        "switchyard.dev/attempt": "1",
        "switchyard.dev/component": "transform",
    }


def container(i: int) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "ghcr.io/example/processor:1.4.2",
        "args": ["--node", f"node-{i:05d}", "--output", "/switchyard/out/result"],
        "env": [{"name": f"SWITCHYARD_PARAM_{k}", "value": f"value-{k}-{i}"} for k in range(6)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "inputs", "mountPath": "/switchyard/in", "readOnly": True}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def job(i: int, size: int) -> dict[str, Any]:
    name = f"{WORKFLOW}-node-{i:05d}-1-abcde"
    return pad(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "labels": labels(i),
                "annotations": {"switchyard.dev/workflow": WORKFLOW},
            },
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels(i)},
                    "spec": {"restartPolicy": "Never", "containers": [container(i)]},
                },
            },
        },
        size,
    )


def pod(i: int, size: int) -> dict[str, Any]:
    name = f"{WORKFLOW}-node-{i:05d}-1-abcde"
    return pad(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-x7k2p",
                "labels": {**labels(i), "job-name": name, "batch.kubernetes.io/job-name": name},
                "annotations": {"switchyard.dev/workflow": WORKFLOW},
            },
            "spec": {"restartPolicy": "Never", "containers": [container(i)]},
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {
                        "name": "main",
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": "x" * 512}},
                    }
                ],
            },
        },
        size,
    )


def fill(kubeconfig: str, objects: int, job_bytes: int, pod_bytes: int) -> None:
    api_client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    batch, core = kubernetes.client.BatchV1Api(api_client), kubernetes.client.CoreV1Api(api_client)

    create_job, create_pod = direct(batch.create_namespaced_job), direct(core.create_namespaced_pod)

    def create(i: int) -> None:
        create_job(NAMESPACE, job(i, job_bytes), _preload_content=False).release_conn()
        create_pod(NAMESPACE, pod(i, pod_bytes), _preload_content=False).release_conn()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(objects)))
    api_client.close()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(kubeconfig: str, page_size: int) -> None:
    """In a fresh interpreter: the two informers list; print peak and settled RSS as JSON."""
    import gc

    from switchyard.k8s.client import load_config
    from switchyard.k8s.informer import Informer

    async def run() -> dict[str, Any]:
        api_client = load_config(kubeconfig)
        loop = asyncio.get_running_loop()
        informers = [Informer(api_client, kind, [NAMESPACE], lambda *_: None, loop) for kind in ("jobs", "pods")]
        before = rss_mib()
        started = time.monotonic()
        for informer in informers:
            informer.page_size = page_size
            informer.start()
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in informers)), 600)
        seconds = time.monotonic() - started
        for informer in informers:
            informer.stop()
        gc.collect()
        return {
            "page_size": page_size,
            "objects": sum(len(i.store) for i in informers),
            "seconds": round(seconds, 1),
            "rss_before_mib": round(before, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_after_mib": round(rss_mib(), 1),
        }

    print(json.dumps(asyncio.run(run())), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="Jobs, and as many Pods")
    parser.add_argument("--job-bytes", type=int, default=5_000)
    parser.add_argument("--pod-bytes", type=int, default=7_000)
    parser.add_argument("--page-sizes", default="0,500", help="comma-separated; 0: one unpaged list")
    parser.add_argument("--child", nargs=2, metavar=("KUBECONFIG", "PAGE_SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    from switchyard.sandbox.process import EmulatorProcess

    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(namespaces=[NAMESPACE]) as emulator:
        kubeconfig = str(emulator.write_kubeconfig(pathlib.Path(tmp) / "config"))
        started = time.monotonic()
        fill(kubeconfig, args.objects, args.job_bytes, args.pod_bytes)
        body = len(json.dumps(job(0, args.job_bytes))) + len(json.dumps(pod(0, args.pod_bytes)))
        print(
            f"filled {args.objects} Jobs + {args.objects} Pods (~{body * args.objects / 2**20:.0f} MiB of JSON) "
            f"in {time.monotonic() - started:.0f}s",
            flush=True,
        )
        for size in (int(s) for s in args.page_sizes.split(",")):
            cmd = [sys.executable, __file__, "--child", kubeconfig, str(size)]
            print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
