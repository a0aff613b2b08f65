"""Jobs/s through the emulated API server + job simulator, no operator: create N Jobs, time until all finish.

Run: `python bench/jobsim_throughput.py [--jobs N] [--creators K]`. Jobs are created over HTTP by K
threads with the kubernetes client (as an operator would); the simulator (delay 0) runs each Job: Pod
create, Pod Running, Job active, Pod Succeeded, Job Complete. Jobs/s = N / (last Job Complete - first create).
Recorded in docs/benchmarks.md ("Harness throughput").
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import sys
import tempfile
import time

import kubernetes

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import EmulatorProcess
from switchyard.sandbox.waiting import wait_for

NAMESPACE = "bench"


def job(i: int) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"j-{i:06d}", "labels": {"switchyard.dev/node": f"n{i}"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"switchyard.dev/node": f"n{i}"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    }


def create(api: kubernetes.client.BatchV1Api, i: int) -> None:
    """One create, response not turned into client models (the load generator stays cheap)."""
    api.create_namespaced_job(NAMESPACE, job(i), _preload_content=False).release_conn()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--creators", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=4, help="simulator worker threads")
    parser.add_argument("--in-process", action="store_true", help="the emulator in this process (a thread)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        (
            EmulatedCluster(namespaces=[NAMESPACE]) if args.in_process else EmulatorProcess(namespaces=[NAMESPACE])
        ) as cluster,
    ):
        kubeconfig = cluster.write_kubeconfig(pathlib.Path(tmp) / "kubeconfig", namespace=NAMESPACE)
        with JobSimulator(kubeconfig, namespace=NAMESPACE, delay=0.0, workers=8) as sim:
            clients = [
                kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) for _ in range(args.creators)
            ]
            apis = [kubernetes.client.BatchV1Api(c) for c in clients]
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(args.creators) as pool:
                futures = [pool.submit(create, apis[i % args.creators], i) for i in range(args.jobs)]
                for f in futures:
                    f.result()
            created = time.monotonic() - start
            wait_for(lambda: len(sim.finished) >= args.jobs, timeout=args.timeout)
            elapsed = time.monotonic() - start
            for c in clients:
                c.close()
            errors = list(sim.errors)
    rate = args.jobs / elapsed
    print(f"jobs={args.jobs} created_in={created:.1f}s all_complete_in={elapsed:.1f}s", end=" ")
    print(f"jobs_per_s={rate:.0f} errors={len(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
