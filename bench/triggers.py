"""Trigger ingest: events/s accepted and event -> Workflow created latency (p50/p99), real operator, emulated API.

Run: `python bench/triggers.py [--events 1000] [--concurrency 16]`. Starts the emulated API with the CRDs, the
real operator (`python -m switchyard --ingest-port ...`) and a bounded aiohttp client on 127.0.0.1 that posts
structured CloudEvents with the sandbox admin token (TokenReview + SubjectAccessReview, cached 10 s). Two
Triggers: one Workflow per event, and micro-batches of 10. Latency is measured from the client's send to
(a) the 202 (the Workflow exists when it is answered) and (b) the Workflow's ADDED event on a watch of an
outside client. No Component runs: Workflows are created and become Invalid, which costs the operator one
status patch each, as a real run's first step does. Results are recorded in docs/benchmarks.md ("Triggers").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import platform
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

import aiohttp
import kubernetes
import urllib3
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.auth import ADMIN_TOKEN
from switchyard.sandbox.process import OperatorProcess, free_port
from switchyard.sandbox.waiting import wait_for

REPO = pathlib.Path(__file__).resolve().parents[1]
GROUP, VERSION = "switchyard.dev", "v1alpha1"


def ingest_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class AddedWatch:
    """Wall-clock time each Workflow was first seen ADDED on a watch (an outside client's view)."""

    def __init__(self, kubeconfig: pathlib.Path, namespace: str) -> None:
        self.client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        self.namespace = namespace
        self.seen: dict[str, float] = {}
        self.watch = kubernetes.watch.Watch()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        custom = kubernetes.client.CustomObjectsApi(self.client)
        stream = self.watch.stream(
            custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, "workflows", timeout_seconds=600
        )
        with contextlib.suppress(urllib3.exceptions.HTTPError):  # the emulator stops under the watch at the end
            for event in stream:
                if event["type"] == "ADDED":
                    self.seen.setdefault(event["object"]["metadata"]["name"], time.perf_counter())

    def __enter__(self) -> AddedWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.watch.stop()


async def burst(
    port: int, namespace: str, trigger: str, count: int, concurrency: int, first: int = 0
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v1/namespaces/{namespace}/triggers/{trigger}"
    limit = asyncio.Semaphore(concurrency)
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    created: dict[str, str] = {}  # workflow -> event id
    statuses: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            event_id = f"{trigger}-{i}"
            message = to_structured_event(
                CloudEvent(
                    attributes={
                        "id": event_id,
                        "source": "/bench",
                        "type": "bench",
                        "datacontenttype": "application/json",
                    },
                    data={"i": i},
                )
            )
            headers = {**message.headers, "Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with limit:
                sent[event_id] = time.perf_counter()
                async with session.post(url, data=message.body, headers=headers) as response:
                    body = await response.json()
                    answered[event_id] = time.perf_counter()
                    statuses.append(response.status)
                    for name in body.get("workflows") or []:
                        created[name] = event_id

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        wall = time.perf_counter() - started
    return {"wall": wall, "sent": sent, "answered": answered, "created": created, "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}: {args.events} events, {args.concurrency} at once"
    )
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    with EmulatedCluster(crd_paths=sorted((REPO / "crds").glob("*.yaml"))) as cluster:
        kubeconfig = cluster.write_kubeconfig(work / "kubeconfig")
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        cluster.create("v1/namespaces", {"metadata": {"name": namespace}})
        port = free_port()
        extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1")
        operator = OperatorProcess(kubeconfig, work / "operator.log", namespaces=(namespace,), extra_args=extra).start()
        try:
            operator.wait_ready(timeout=60)
            wait_for(lambda: ingest_up(port), 30, what="the ingest endpoint")
            template = {"nodes": [{"name": "run", "component": "absent"}]}
            for name, extra_spec in (("single", {}), ("batched", {"batch": {"maxItems": 10, "maxWaitSeconds": 3600}})):
                cluster.create(
                    f"{GROUP}/{VERSION}/triggers",
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "Trigger",
                        "metadata": {"name": name},
                        "spec": {"workflowTemplate": template, "historyLimit": 1000, **extra_spec},
                    },
                    namespace=namespace,
                )
            with AddedWatch(kubeconfig, namespace) as watch:
                asyncio.run(burst(port, namespace, "single", 20, 4))  # warm-up: connections, auth cache
                single = asyncio.run(burst(port, namespace, "single", args.events, args.concurrency))
                wait_for(lambda: all(n in watch.seen for n in single["created"]), 120, what="all ADDED seen")
                batched = asyncio.run(burst(port, namespace, "batched", args.events, args.concurrency))
            report("single (one Workflow per event)", single, watch.seen)
            report("batched (maxItems 10)", batched, None)
        finally:
            operator.stop()
    return 0


def report(title: str, run: dict[str, Any], added: dict[str, float] | None) -> None:
    statuses = run["statuses"]
    accepted = statuses.count(202)
    to_202 = [(run["answered"][e] - run["sent"][e]) * 1000 for e in run["sent"]]
    print(
        f"\n{title}: {accepted}/{len(statuses)} accepted in {run['wall']:.2f}s = {accepted / run['wall']:.0f} events/s"
    )
    p50, p99 = percentile(to_202, 0.5), percentile(to_202, 0.99)
    print(f"  send -> 202 (Workflow or batch key persisted): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    if added is not None:
        seen = [(added[wf] - run["sent"][event]) * 1000 for wf, event in run["created"].items() if wf in added]
        p50, p99 = percentile(seen, 0.5), percentile(seen, 0.99)
        print(f"  send -> Workflow ADDED on a watch: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(seen)})")
    else:
        print(f"  Workflows created: {len(run['created'])}")


if __name__ == "__main__":
    sys.exit(main())
