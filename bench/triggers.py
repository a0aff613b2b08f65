"""Trigger ingest: events/s accepted and event -> Workflow created latency (p50/p99), real operator, emulated API.

Run: `python bench/triggers.py [--events 1000] [--concurrency 16] [--max-items 10] [--running 500]
[--operator-arg=--ingest-loop=shared]`. Starts the emulated API with the CRDs (in this process), the real
operator (`python -m switchyard --ingest-port ...`) and a bounded aiohttp client on 127.0.0.1, in a process of
its own, that posts structured CloudEvents with the sandbox admin token (TokenReview + SubjectAccessReview,
cached 10 s). Two Triggers: one Workflow per event, and batches of `--max-items`. Latency is measured from the
client's send to (a) the 202 (the Workflow, or the batch key, exists when it is answered) and (b) the
Workflow's ADDED event on a watch of an outside client. The Triggers' Workflows name an absent Component: each
is created and becomes Invalid, which costs the operator one status patch, as a real run's first step does.

`--running N` first starts N Workflows of one node whose Job the job simulator (a process of its own) keeps
running for an hour, and waits until all N are Running: the operator handles them (Job and Pod watch events,
status) while the events arrive. Each run prints the CPU seconds of the operator, of this process (the
emulator and the ADDED watch), of the client and of the simulator, and the emulator's share of them (as
bench/e2e.py reports), with the load average. Results are recorded in docs/benchmarks.md ("Triggers").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import multiprocessing
import os
import pathlib
import platform
import signal
import subprocess
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
from switchyard.sandbox.process import OperatorProcess, SimulatorProcess, free_port
from switchyard.sandbox.waiting import wait_for

REPO = pathlib.Path(__file__).resolve().parents[1]
GROUP, VERSION = "switchyard.dev", "v1alpha1"
WORKFLOWS = f"{GROUP}/{VERSION}/workflows"
HOLD_SECONDS = 3600.0  # how long the simulator keeps a `--running` Workflow's Job running


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


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

        started, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        wall = time.perf_counter() - started
    return {
        "wall": wall, "sent": sent, "answered": answered, "created": created, "statuses": statuses,
        "client_cpu": time.process_time() - cpu0,
    }  # fmt: skip


def burst_in_process(port: int, namespace: str, trigger: str, count: int, concurrency: int) -> dict[str, Any]:
    """The client's run, in a process of its own (it does not share the emulator's interpreter lock)."""
    return asyncio.run(burst(port, namespace, trigger, count, concurrency))


class Shares:
    """CPU seconds of each process over one run, and the emulator's share of them."""

    def __init__(self, operator_pid: int, sim_pid: int | None) -> None:
        self.pids = {"operator": operator_pid, **({"simulator": sim_pid} if sim_pid else {})}
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.bench0 = time.process_time()

    def end(self, client_cpu: float) -> dict[str, float]:
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        used["emulator"] = time.process_time() - self.bench0
        used["client"] = client_cpu
        return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-items", type=int, default=10, help="the batched Trigger's batch.maxItems")
    parser.add_argument("--running", type=int, default=0, help="Workflows kept running during the runs")
    parser.add_argument("--operator-arg", action="append", default=[], help="an extra operator argument")
    parser.add_argument("--only", choices=("single", "batched"), help="run one Trigger only")
    parser.add_argument("--profile", metavar="PATH", help="record the operator and this process with py-spy (on PATH)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs: {args.events} events, "
        f"{args.concurrency} at once, maxItems {args.max_items}, {args.running} Workflows running, "
        f"operator args {args.operator_arg}"
    )
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    print(f"work directory {work}")
    with EmulatedCluster(crd_paths=sorted((REPO / "crds").glob("*.yaml"))) as cluster:
        kubeconfig = cluster.write_kubeconfig(work / "kubeconfig")
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        cluster.create("v1/namespaces", {"metadata": {"name": namespace}})
        port = free_port()
        extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1", *args.operator_arg)
        operator = OperatorProcess(kubeconfig, work / "operator.log", namespaces=(namespace,), extra_args=extra).start()
        sim: SimulatorProcess | None = None
        try:
            operator.wait_ready(timeout=60)
            wait_for(lambda: ingest_up(port), 30, what="the ingest endpoint")
            if args.running:
                sim = SimulatorProcess(kubeconfig, work, namespace=namespace, delays={"hold": HOLD_SECONDS}).start()
                start_running(cluster, namespace, args.running)
            template = {"nodes": [{"name": "run", "component": "absent"}]}
            batch = {"batch": {"maxItems": args.max_items, "maxWaitSeconds": 3600}}
            for name, extra_spec in (("single", {}), ("batched", batch)):
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
            spawn = multiprocessing.get_context("spawn")
            assert operator.proc is not None
            with (
                AddedWatch(kubeconfig, namespace) as watch,
                concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as client,
            ):
                client.submit(burst_in_process, port, namespace, "single", 20, 4).result()  # warm-up
                for trigger in ("single", "batched"):
                    if args.only not in (None, trigger):
                        continue
                    settle(cluster, quiet=3.0, timeout=300)  # the previous run's Workflows are handled first
                    shares = Shares(operator.proc.pid, sim.proc.pid if sim and sim.proc else None)
                    spies = [
                        profile(args.profile, f"{trigger}.{who}", pid)
                        for who, pid in (("operator", operator.proc.pid), ("emulator", os.getpid()))
                    ]
                    load = os.getloadavg()[0]
                    patches0, kinds0 = configmap_writes(cluster), writes_by_kind(cluster)
                    run = client.submit(burst_in_process, port, namespace, trigger, args.events, args.concurrency)
                    result = run.result()
                    cpu = shares.end(result["client_cpu"])
                    for spy in spies:
                        if spy is not None:
                            spy.send_signal(signal.SIGINT)
                            spy.wait(60)
                    load = max(load, os.getloadavg()[0])
                    if trigger == "single":
                        wait_for(lambda r=result: all(n in watch.seen for n in r["created"]), 120, what="all ADDED")
                        report("single (one Workflow per event)", result, watch.seen, cpu, load)
                    else:
                        report(f"batched (maxItems {args.max_items})", result, None, cpu, load)
                        writes = configmap_writes(cluster) - patches0
                        print(
                            f"  pending-batch ConfigMap writes: {writes} ({args.events / max(1, writes):.1f} per write)"
                        )
                    kinds = writes_by_kind(cluster) - kinds0
                    per = ", ".join(f"{kind} {n / args.events:.2f}" for kind, n in kinds.most_common())
                    print(f"  writes stored per event, by kind: {per}")
                    if args.running:
                        print(f"  Workflows running at the end: {count_running(cluster, namespace)}/{args.running}")
        finally:
            if sim is not None:
                sim.stop()
            operator.stop()
    return 0


def profile(path: str | None, what: str, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy recording a process (all threads, raw collapsed stacks) until it is sent SIGINT."""
    if path is None:
        return None
    out = f"{path}.{what}.txt"
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--output", out]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_running(cluster: EmulatedCluster, namespace: str, count: int) -> None:
    """`count` Workflows of one node whose Job runs for an hour; returns once all of them are Running."""
    component = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Component", "metadata": {"name": "hold"}}
    cluster.create(f"{GROUP}/{VERSION}/components", {**component, "spec": {"image": "example.com/hold:1"}}, namespace)
    for i in range(count):
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workflow",
            "metadata": {"name": f"hold-{i:04d}"},
            "spec": {"input": {"data": "hold"}, "nodes": [{"name": "hold", "component": "hold"}]},
        }
        cluster.create(WORKFLOWS, body, namespace=namespace)
    started = time.perf_counter()
    wait_for(lambda: count_running(cluster, namespace) >= count, 600, what=f"{count} Workflows Running")
    print(f"{count} Workflows Running after {time.perf_counter() - started:.1f}s")
    # Running is reported while the simulator still creates and starts the Pods (hundreds of Job and Pod
    # writes in the next seconds): measure only once the cluster is steady, or the bursts share it with that
    settle(cluster, quiet=5.0, timeout=300)
    print(f"  and steady (no Job, Pod or Workflow write for 5 s) after {time.perf_counter() - started:.1f}s")


def settle(cluster: EmulatedCluster, quiet: float, timeout: float) -> None:
    """Wait until no Job, Pod or Workflow was written or deleted for `quiet` seconds (Leases renew all along).

    Deletes count through the number of Workflows there are: a Trigger pruning its history past
    `historyLimit` deletes Workflows (and their Jobs) for a while after a big run, and stores nothing."""
    last: dict[str, Any] = {"seen": None, "since": time.monotonic()}

    def steady() -> bool:
        kinds = writes_by_kind(cluster)
        total = sum(n for kind, n in kinds.items() if kind.split("/")[-1] in ("jobs", "pods", "workflows"))
        seen = (total, len(cluster.objects(WORKFLOWS)))
        now = time.monotonic()
        if seen != last["seen"]:
            last["seen"], last["since"] = seen, now
        return bool(now - last["since"] >= quiet)

    wait_for(steady, timeout, interval=0.5, what=f"no Job, Pod or Workflow write or delete for {quiet:.0f} s")


def writes_by_kind(cluster: EmulatedCluster) -> collections.Counter[str]:
    """Writes stored so far (creates, updates, patches) by `group/plural`."""
    counts: collections.Counter[str] = collections.Counter()
    for key, n in list(cluster.api.written.writes.items()):
        group, plural = key.split("/")[:2]
        counts[f"{group}/{plural}" if group else plural] += n
    return counts


def configmap_writes(cluster: EmulatedCluster) -> int:
    """Writes (create, patch) stored to ConfigMaps so far: the pending batches' group commits."""
    return sum(n for key, n in cluster.api.written.writes.items() if key.startswith("/configmaps/"))


def count_running(cluster: EmulatedCluster, namespace: str) -> int:
    objects = cluster.objects(WORKFLOWS, namespace)
    return sum(
        1
        for o in objects
        if o["metadata"]["name"].startswith("hold-") and (o.get("status") or {}).get("phase") == "Running"
    )


def report(title: str, run: dict[str, Any], added: dict[str, float] | None, cpu: dict[str, float], load: float) -> None:
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
    total = sum(cpu.values())
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    share = cpu["emulator"] / total if total else 0.0
    print(f"  CPU seconds: {parts}; emulator share {share:.0%}; load average (1 min, max) {load:.1f}")


if __name__ == "__main__":
    sys.exit(main())
