"""The real operator process against the emulated API server and the job simulator, one Workflow per DAG.

Run: `python bench/e2e.py --all` (12 benchdata DAGs + a synthetic wide 3,000-node Workflow: about the
largest wide one whose object fits etcd with its managedFields), or pick DAGs with
`--dag SUBSTRING` (repeatable) / `--synthetic N`. Every DAG gets a fresh emulator, operator and simulator; node
runtimes are divided by `--scale` (default: per DAG, so the critical path is `--critical-path` seconds).
Measured: time from create to Succeeded, makespan / scaled critical path, the operator's scheduling-latency
histogram (p50/p95/p99, interpolated in buckets as Prometheus' histogram_quantile does), the dispatch delay
the simulator sees (dependent's Job started - last dependency's Job finished), API requests, operator
RSS peak (VmHWM) and CPU, the Workflow object size against the ~1.5 MiB etcd limit (managedFields included:
the Workflow is created as `kubectl create` would, with a field manager) and the bytes its writes made etcd
store per second (the emulator's `ApiServer.written`) against `WRITE_BUDGET_BYTES_PER_SECOND`, and the Component
status writes (breaker counters and statistics, batched).
`--workflows N` instead runs N small Workflows at once (`--workflow-nodes M`, default 20: a random layered DAG of
width 5), the "many workflows" scale case. Per run it also prints the operator's cost ratios: CPU per Job
created (ms), API requests per node, RSS peak. `--foreach N` runs one Workflow `split -> map -> merge`, `map` a
forEach over N inline items at `--parallelism` (the instance Jobs succeed at once): the same ratios per instance.
Each run has a timeout; the script exits 1 if any Workflow does not reach Succeeded, a Job is created twice,
or the simulator reports errors. Results are recorded in docs/benchmarks.md ("End to end").
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import pathlib
import platform
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import wfcommons
from measure import counter_value, histogram_quantiles, job_reads, percentiles, proc_status
from switchyard.logic.limits import WRITE_BUDGET_BYTES_PER_SECOND
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess, SimulatorProcess
from wfcommons import BenchDag

ROOT = pathlib.Path(__file__).resolve().parents[1]
CRDS = sorted((ROOT / "crds").glob("*.yaml"))
NAMESPACE = "bench"
OBJECT_LIMIT = 1_572_864  # etcd's default request limit (1.5 MiB): the practical cap on one object
SIM_AGENT = "switchyard-bench-jobsim"
WORKFLOWS = "switchyard.dev/v1alpha1/workflows"


class RequestCounter(list):  # type: ignore[type-arg]
    """Replaces the emulator's request log (`ApiServer._requests`): counts requests instead of keeping them."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def append(self, request: Any) -> None:
        who = "simulator" if request.headers.get("User-Agent", "") == SIM_AGENT else "operator"
        self.counts[(who, str(request.method).rsplit(".", 1)[-1].upper(), _resource(request.url.path))] += 1

    def total(self, who: str | None = None) -> int:
        return sum(n for (w, _, _), n in self.counts.items() if who is None or w == who)


def _resource(path: str) -> str:
    """`/apis/g/v/namespaces/ns/jobs/x/status` -> `jobs/status`; watches and lists share the plural."""
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    plural = parts[0] if parts else "-"
    return plural + ("/status" if parts[-1:] == ["status"] and len(parts) > 2 else "")


@dataclass
class Result:
    dag: str
    nodes: int
    parallelism: int
    scale: float
    cp: float  # scaled critical path, s
    bound: float  # max(cp, total work / parallelism), scaled
    phase: str = "?"
    to_succeeded: float = math.nan
    makespan: float = math.nan
    first_job: float = math.nan  # create -> first Job started
    latency: dict[str, float] = field(default_factory=dict)
    dispatch: dict[str, float] = field(default_factory=dict)
    jobs_created: int = 0
    job_reads: dict[str, int] = field(default_factory=dict)  # reason -> Jobs the observer read with a GET
    duplicates: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    top_requests: list[tuple[str, int]] = field(default_factory=list)
    rss_peak_mib: float = math.nan
    operator_cpu: float = math.nan
    bench_cpu: float = math.nan  # this process: emulator + simulator threads
    object_bytes: int = 0
    status_bytes: int = 0
    peak_object_bytes: int = 0
    written_bytes: int = 0  # what the Workflows' writes made etcd store (every write stores the whole object)
    writes: int = 0
    component_writes: int = 0  # Component status patches (breaker counters and statistics, batched)
    workflows: int = 1
    problems: list[str] = field(default_factory=list)

    @property
    def written_per_second(self) -> float:
        """Per Workflow, over its run (create -> finished)."""
        seconds = self.to_succeeded if not math.isnan(self.to_succeeded) else math.nan
        return self.written_bytes / self.workflows / seconds if seconds and seconds > 0 else math.nan

    @property
    def cpu_per_job_ms(self) -> float:
        return self.operator_cpu / self.jobs_created * 1000 if self.jobs_created else math.nan

    @property
    def requests_per_node(self) -> float:
        return self.requests.get("operator", 0) / self.nodes if self.nodes else math.nan


def create_as_kubectl(cluster: EmulatedCluster, namespace: str, body: dict[str, Any]) -> None:
    """POST the Workflow as `kubectl create` does (field manager `kubectl-create`), so the API server records
    its managedFields (an in-process `cluster.create` records none)."""
    url = f"{cluster.url}/apis/switchyard.dev/v1alpha1/namespaces/{namespace}/workflows?fieldManager=kubectl-create"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def record_writes(result: Result, cluster: EmulatedCluster) -> None:
    log = cluster.api.written
    with log._lock:
        keys = [k for k in log.bytes if k.startswith(f"switchyard.dev/workflows/{NAMESPACE}/")]
        result.written_bytes = sum(log.bytes[k] for k in keys)
        result.writes = sum(log.writes[k] for k in keys)
        result.component_writes = sum(
            n for k, n in log.writes.items() if k.startswith(f"switchyard.dev/components/{NAMESPACE}/")
        )


def watch_one(
    cluster: EmulatedCluster, operator: OperatorProcess, workflow: dict[str, Any], result: Result, timeout: float
) -> float:
    """Create the Workflow as kubectl would and poll it to its end: phase, peak and final object size, writes,
    the operator's RSS, CPU and metrics into `result`. Returns when it started (monotonic)."""
    bench_cpu0 = time.process_time()
    started = time.monotonic()
    create_as_kubectl(cluster, NAMESPACE, workflow)
    polls = 0
    while time.monotonic() - started < timeout:
        # The phase without copying the (up to ~1 MiB) object; its size once a second (json.dumps costs).
        result.phase = cluster.inspect(WORKFLOWS, "bench", NAMESPACE, _phase) or "?"
        final = result.phase in ("Succeeded", "Failed", "Invalid") or not operator.alive
        if polls % 10 == 0 or final:
            size = cluster.inspect(WORKFLOWS, "bench", NAMESPACE, _size) or 0
            result.peak_object_bytes = max(result.peak_object_bytes, size)
        polls += 1
        if final:
            break
        time.sleep(0.1)
    done = time.monotonic()
    obj = cluster.get(WORKFLOWS, "bench", NAMESPACE) or {}
    result.bench_cpu = time.process_time() - bench_cpu0
    if result.phase == "Succeeded":
        result.to_succeeded = done - started
    else:
        status = obj.get("status") or {}
        result.problems.append(
            f"phase {result.phase} after {done - started:.1f}s (timeout {timeout:.0f}s), "
            f"progress {status.get('progress')}, message {status.get('message')!r}, "
            f"operator alive: {operator.alive}"
        )
    result.object_bytes = _size(obj)
    result.status_bytes = _size(obj.get("status") or {})
    record_writes(result, cluster)
    if operator.alive:
        assert operator.proc is not None
        result.rss_peak_mib, result.operator_cpu = proc_status(operator.proc.pid)
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        result.latency = histogram_quantiles(text, "switchyard_scheduling_latency_seconds", (0.5, 0.95, 0.99))
        result.jobs_created = int(counter_value(text, "switchyard_jobs_created"))
        result.job_reads = job_reads(text)
    return started


def run_one(bench: BenchDag, scale: float, parallelism: int, timeout: float, workdir: pathlib.Path) -> Result:
    cp = bench.critical_path() / scale
    result = Result(
        bench.name, len(bench.nodes), parallelism, scale, cp, max(cp, bench.total_work() / scale / parallelism)
    )
    runtime = {name: seconds / scale for name, seconds in bench.runtime.items()}
    deps = bench.deps

    workflow = {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench"},
        "spec": {"input": {"data": "bench"}, "nodes": bench.nodes, "parallelism": parallelism},
    }
    log_path = workdir / f"{bench.name}.operator.log"
    with EmulatedCluster(crd_paths=CRDS, namespaces=[NAMESPACE]) as cluster:
        counter = RequestCounter()
        cluster.api._requests = counter
        kubeconfig = cluster.write_kubeconfig(workdir / f"{bench.name}.kubeconfig", namespace=NAMESPACE)
        operator = OperatorProcess(kubeconfig, log_path, namespaces=(NAMESPACE,)).start()
        # The simulator in its own process: it does not share the emulator's interpreter lock (harness speed).
        sim = SimulatorProcess(
            kubeconfig, workdir, namespace=NAMESPACE, delays=runtime, message="ok", user_agent=SIM_AGENT
        )
        try:
            operator.wait_ready(timeout=60)
            sim.start()
            cluster.create("switchyard.dev/v1alpha1/components", _component(), namespace=NAMESPACE)
            started = watch_one(cluster, operator, workflow, result, timeout)
        finally:
            sim.stop()
            operator.stop()
        _measure_sim(result, sim, deps, started)
        jobs = cluster.objects("batch/v1/jobs", NAMESPACE)
        if result.phase == "Succeeded" and len(jobs) != len(bench.nodes):
            result.problems.append(f"{len(jobs)} Jobs in the namespace for {len(bench.nodes)} nodes")
        by_who = collections.Counter[str]()
        for (who, _, _), n in counter.counts.items():
            by_who[who] += n
        result.requests = {"total": counter.total(), **by_who}
        result.top_requests = [(f"{who} {method} {res}", n) for (who, method, res), n in counter.counts.most_common(8)]
    if result.problems:
        (workdir / f"{bench.name}.problems").write_text("\n".join(result.problems))
    return result


def run_many(count: int, size: int, timeout: float, workdir: pathlib.Path) -> Result:
    """`count` Workflows of `size` nodes each (one random layered DAG, width 5, runtimes scaled to a 1 s CP)."""
    bench = wfcommons.synthetic_layered(size, 5, seed=size)
    scale = bench.critical_path() / 1.0
    runtime = {name: seconds / scale for name, seconds in bench.runtime.items()}
    name = f"{count} workflows x {size} nodes"
    result = Result(name, count * size, 1000, scale, 1.0, 1.0, workflows=count)

    def rule(job: SimJob) -> Outcome:
        return Outcome(delay=runtime.get(job.node or "", 0.0), message="ok")

    log_path = workdir / "many.operator.log"
    with EmulatedCluster(crd_paths=CRDS, namespaces=[NAMESPACE]) as cluster:
        counter = RequestCounter()
        cluster.api._requests = counter
        kubeconfig = cluster.write_kubeconfig(workdir / "many.kubeconfig", namespace=NAMESPACE)
        operator = OperatorProcess(kubeconfig, log_path, namespaces=(NAMESPACE,)).start()
        sim = JobSimulator(kubeconfig, namespace=NAMESPACE, rule=rule, delay=0.0)
        phases: collections.Counter[str] = collections.Counter()
        try:
            operator.wait_ready(timeout=60)
            sim.start()
            sim._client.user_agent = SIM_AGENT
            cluster.create("switchyard.dev/v1alpha1/components", _component(), namespace=NAMESPACE)
            bench_cpu0 = time.process_time()
            started = time.monotonic()
            for i in range(count):
                workflow = {
                    "apiVersion": "switchyard.dev/v1alpha1",
                    "kind": "Workflow",
                    "metadata": {"name": f"wf-{i:05d}"},
                    "spec": {"input": {"data": "bench"}, "nodes": bench.nodes},
                }
                create_as_kubectl(cluster, NAMESPACE, workflow)
            while time.monotonic() - started < timeout and operator.alive:
                items = cluster.objects("switchyard.dev/v1alpha1/workflows", NAMESPACE)
                phases = collections.Counter((o.get("status") or {}).get("phase", "?") for o in items)
                if sum(phases[p] for p in ("Succeeded", "Failed", "Invalid")) == count:
                    break
                time.sleep(1.0)
            done = time.monotonic()
            result.bench_cpu = time.process_time() - bench_cpu0
            record_writes(result, cluster)
            result.phase = "Succeeded" if phases["Succeeded"] == count else dict(phases).__repr__()
            if result.phase == "Succeeded":
                result.to_succeeded = done - started
            else:
                result.problems.append(f"phases {dict(phases)} after {done - started:.1f}s (timeout {timeout:.0f}s)")
            if operator.alive:
                assert operator.proc is not None
                result.rss_peak_mib, result.operator_cpu = proc_status(operator.proc.pid)
                with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10) as r:
                    text = r.read().decode()
                result.latency = histogram_quantiles(text, "switchyard_scheduling_latency_seconds", (0.5, 0.95, 0.99))
                result.jobs_created = int(counter_value(text, "switchyard_jobs_created"))
                result.job_reads = job_reads(text)
        finally:
            sim.stop()
            operator.stop()
        starts = collections.Counter(s.job for s in sim.started)
        result.duplicates = sum(n - 1 for n in starts.values() if n > 1)
        if result.duplicates:
            result.problems.append(f"{result.duplicates} Jobs started twice")
        if sim.errors:
            result.problems.append(f"simulator errors: {sim.errors[:3]!r}")
        if sim.started and sim.finished:
            result.first_job = min(x.at for x in sim.started) - started
            result.makespan = max(x.at for x in sim.finished) - min(x.at for x in sim.started)
        by_who = collections.Counter[str]()
        for (who, _, _), n in counter.counts.items():
            by_who[who] += n
        result.requests = {"total": counter.total(), **by_who}
        result.top_requests = [(f"{who} {method} {res}", n) for (who, method, res), n in counter.counts.most_common(8)]
    if result.problems:
        (workdir / "many.problems").write_text("\n".join(result.problems))
    return result


def run_foreach(count: int, parallelism: int, timeout: float, workdir: pathlib.Path) -> Result:
    """One Workflow `split -> map -> merge`, `map` a forEach over `count` inline items at `parallelism` (its
    maxParallel), every Job succeeding at once: the operator's cost per instance Job (issue 21)."""
    name = f"forEach {count} items at P {parallelism}"
    result = Result(name, count + 2, parallelism, 1.0, math.nan, math.nan)
    nodes = [
        {"name": "split", "component": "bench"},
        {"name": "map", "component": "bench", "dependsOn": ["split"], "forEach": {"items": list(range(count))}},
        {"name": "merge", "component": "bench", "dependsOn": ["map"]},
    ]
    workflow = {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench"},
        "spec": {"input": {"data": "bench"}, "nodes": nodes, "parallelism": parallelism},
    }
    log_path = workdir / "foreach.operator.log"
    with EmulatedCluster(crd_paths=CRDS, namespaces=[NAMESPACE]) as cluster:
        counter = RequestCounter()
        cluster.api._requests = counter
        kubeconfig = cluster.write_kubeconfig(workdir / "foreach.kubeconfig", namespace=NAMESPACE)
        operator = OperatorProcess(kubeconfig, log_path, namespaces=(NAMESPACE,)).start()
        sim = JobSimulator(kubeconfig, namespace=NAMESPACE, rule=lambda job: Outcome(message='{"ok":1}'), delay=0.0)
        try:
            operator.wait_ready(timeout=60)
            sim.start()
            sim._client.user_agent = SIM_AGENT
            cluster.create("switchyard.dev/v1alpha1/components", _component(), namespace=NAMESPACE)
            started = watch_one(cluster, operator, workflow, result, timeout)
        finally:
            sim.stop()
            operator.stop()
        starts = collections.Counter(s.job for s in sim.started)
        result.duplicates = sum(n - 1 for n in starts.values() if n > 1)
        if result.duplicates:
            result.problems.append(f"{result.duplicates} Jobs started twice")
        if result.phase == "Succeeded" and len(starts) != count + 2:
            result.problems.append(f"{len(starts)} Jobs started for {count + 2} nodes and instances")
        if sim.errors:
            result.problems.append(f"simulator errors: {sim.errors[:3]!r}")
        if sim.started and sim.finished:
            result.first_job = min(x.at for x in sim.started) - started
            result.makespan = max(x.at for x in sim.finished) - min(x.at for x in sim.started)
        by_who = collections.Counter[str]()
        for (who, _, _), n in counter.counts.items():
            by_who[who] += n
        result.requests = {"total": counter.total(), **by_who}
        result.top_requests = [(f"{who} {method} {res}", n) for (who, method, res), n in counter.counts.most_common(8)]
    if result.problems:
        (workdir / "foreach.problems").write_text("\n".join(result.problems))
    return result


def _measure_sim(
    result: Result, sim: SimulatorProcess | JobSimulator, deps: dict[str, list[str]], created: float
) -> None:
    starts = collections.Counter((s.node, s.attempt) for s in sim.started)
    result.duplicates = sum(n - 1 for n in starts.values() if n > 1)
    if result.duplicates:
        twice = [key for key, n in starts.items() if n > 1][:5]
        result.problems.append(f"{result.duplicates} Jobs started twice, e.g. {twice}")
    if any(s.attempt != 1 for s in sim.started):
        result.problems.append("retries happened: some Job has attempt > 1")
    if sim.errors:
        result.problems.append(f"simulator errors: {sim.errors[:3]!r}")
    if not sim.started or not sim.finished:
        return
    started = {s.node: s.at for s in sim.started}
    finished = {f.node: f.at for f in sim.finished}
    result.first_job = min(started.values()) - created
    result.makespan = max(finished.values()) - min(started.values())
    delays = [
        started[node] - max(finished[d] for d in node_deps)
        for node, node_deps in deps.items()
        if node_deps and node in started and all(d in finished for d in node_deps)
    ]
    result.dispatch = percentiles(delays)


def _component() -> dict[str, Any]:
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "bench"},
        "spec": {"image": "example.com/bench:1", "retry": {"limit": 0}},
    }


def _phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase", "?"))


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")))


def select(args: argparse.Namespace) -> list[BenchDag]:
    dags: list[BenchDag] = []
    if args.all or args.dag:
        for bench in wfcommons.load_all():
            if args.all or any(pattern in bench.name for pattern in args.dag):
                dags.append(bench)
    sizes = list(args.synthetic) or ([3000] if args.all else [])
    dags += [wfcommons.synthetic_wide(n, roots=max(50, math.ceil(n / 250))) for n in sizes]
    if not dags:
        raise SystemExit("nothing selected: use --all, --dag SUBSTRING or --synthetic N")
    return sorted(dags, key=lambda d: len(d.nodes))


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def print_tables(results: list[Result]) -> None:
    print(
        "\n| DAG | nodes | P | scale | CP (s) | create->Succeeded (s) | makespan (s) | makespan/CP | makespan/bound "
        "| create->1st Job (s) | sched. latency p50/p95/p99 (ms) (n) | dispatch p50/p95/p99/max (ms) (n) |"
    )
    print("|" + "---|" * 12)
    for r in results:
        lat = "/".join(fmt(r.latency.get(k, math.nan) * 1000, 0) for k in ("p50", "p95", "p99"))
        lat += f" (n={r.latency.get('count', 0):.0f})"
        dis = "/".join(fmt(r.dispatch.get(k, math.nan) * 1000, 0) for k in ("p50", "p95", "p99", "max"))
        dis += f" (n={r.dispatch.get('count', 0):.0f})"
        print(
            f"| {r.dag} | {r.nodes} | {r.parallelism} | {r.scale:g} | {fmt(r.cp)} | {fmt(r.to_succeeded)} "
            f"| {fmt(r.makespan)} | {fmt(r.makespan / r.cp)} | {fmt(r.makespan / r.bound)} | {fmt(r.first_job)} "
            f"| {lat} | {dis} |"
        )
    print(
        "\n| DAG | phase | Jobs created | duplicates | API requests (operator/simulator) | operator RSS peak (MiB) "
        "| operator CPU (s) | emulator+sim CPU (s) | object (KiB) | status (KiB) | peak object / 1.5 MiB "
        "| writes | etcd bytes written (KiB) | per Workflow per s (KiB/s) / budget |"
    )
    print("|" + "---|" * 14)
    for r in results:
        print(
            f"| {r.dag} | {r.phase} | {r.jobs_created} | {r.duplicates} | {r.requests.get('total', 0)} "
            f"({r.requests.get('operator', 0)}/{r.requests.get('simulator', 0)}) | {fmt(r.rss_peak_mib, 0)} "
            f"| {fmt(r.operator_cpu, 1)} | {fmt(r.bench_cpu, 1)} | {r.object_bytes / 1024:.0f} "
            f"| {r.status_bytes / 1024:.0f} | {r.peak_object_bytes / OBJECT_LIMIT:.1%} "
            f"| {r.writes} | {r.written_bytes / 1024:.0f} | {fmt(r.written_per_second / 1024, 1)} / "
            f"{WRITE_BUDGET_BYTES_PER_SECOND / 1024:.0f} |"
        )
    print(
        "\n| run | Workflows | nodes | Jobs created | operator CPU per Job (ms) | operator API requests per node "
        "| operator RSS peak (MiB) | harness CPU per request (ms) | operator CPU / harness CPU |"
    )
    print("|" + "---|" * 9)
    for r in results:
        # the harness (emulator + simulator, this process) does the same work in every run of one size: its CPU
        # per request says how fast the machine ran, which moves the operator's CPU per Job with it
        total = r.requests.get("total", 0)
        harness = r.bench_cpu * 1000 / total if total else math.nan
        print(
            f"| {r.dag} | {r.workflows} | {r.nodes} | {r.jobs_created} | {fmt(r.cpu_per_job_ms, 1)} "
            f"| {fmt(r.requests_per_node)} | {fmt(r.rss_peak_mib, 0)} | {fmt(harness)} "
            f"| {fmt(r.operator_cpu / r.bench_cpu, 3) if r.bench_cpu else '-'} |"
        )
    for r in results:
        print(f"\n{r.dag}: {r.component_writes} Component writes (breaker and statistics) for {r.jobs_created} Jobs")
        print(f"{r.dag}: requests " + ", ".join(f"{k} {n}" for k, n in r.top_requests))
        if r.job_reads:
            print(f"{r.dag}: Job reads by the observer " + ", ".join(f"{k} {n}" for k, n in r.job_reads.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="all 12 benchdata DAGs + a synthetic wide 3,000-node one")
    parser.add_argument("--dag", action="append", default=[], help="benchdata DAGs whose name contains this")
    parser.add_argument("--synthetic", action="append", type=int, default=[], help="a synthetic wide DAG of N nodes")
    parser.add_argument("--scale", type=float, help="divide runtimes by this (default: per DAG, see --critical-path)")
    parser.add_argument("--critical-path", type=float, default=6.0, help="scaled critical path target, s (default 6)")
    parser.add_argument("--parallelism", type=int, default=1000, help="Workflow spec.parallelism (default 1000)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="per-Workflow timeout, s (default 120; at least 60 ms per node)"
    )
    parser.add_argument("--workflows", type=int, default=0, help="run N small Workflows at once instead")
    parser.add_argument("--workflow-nodes", type=int, default=20, help="nodes per Workflow with --workflows")
    parser.add_argument(
        "--foreach", type=int, default=0, help="run one forEach Workflow over N items at --parallelism instead"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (operator logs)")
    args = parser.parse_args(argv)

    dags = [] if args.workflows or args.foreach else select(args)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    print(
        f"# {platform.python_version()} {platform.machine()}, {os.cpu_count()} CPUs; parallelism {args.parallelism}; "
        f"logs in {workdir}",
        flush=True,
    )
    results = []
    for bench in dags:
        scale = args.scale or max(1.0, bench.critical_path() / args.critical_path)
        if bench.name.startswith("synthetic"):
            scale = args.scale or 1.0
        # At least 60 ms per node: the harness runs ~30 Jobs/s end to end on 2 shared cores (a 5,000-node run ~170 s).
        timeout = max(args.timeout, 0.06 * len(bench.nodes))
        result = run_one(bench, scale, args.parallelism, timeout, workdir)
        results.append(result)
        print(
            f"{bench.name}: {result.phase} in {fmt(result.to_succeeded)}s, "
            f"makespan/CP {fmt(result.makespan / result.cp)}"
            + ("; PROBLEMS: " + "; ".join(result.problems) if result.problems else ""),
            flush=True,
        )
    if args.workflows:
        result = run_many(args.workflows, args.workflow_nodes, args.timeout, workdir)
        results.append(result)
        print(f"{result.dag}: {result.phase} in {fmt(result.to_succeeded)}s", flush=True)
    if args.foreach:
        result = run_foreach(args.foreach, args.parallelism, max(args.timeout, 0.1 * args.foreach), workdir)
        results.append(result)
        print(f"{result.dag}: {result.phase} in {fmt(result.to_succeeded)}s", flush=True)
        per_instance = result.requests.get("operator", 0) / args.foreach
        print(
            f"{result.dag}: operator CPU per Job {fmt(result.cpu_per_job_ms)} ms, API requests per instance "
            f"{fmt(per_instance)}, RSS peak {fmt(result.rss_peak_mib, 0)} MiB, peak object "
            f"{result.peak_object_bytes} bytes ({result.peak_object_bytes / OBJECT_LIMIT:.1%} of 1.5 MiB)",
            flush=True,
        )
    print_tables(results)
    failed = [r for r in results if r.problems or r.phase != "Succeeded"]
    if failed:
        print(f"\nFAILED: {', '.join(r.dag for r in failed)} (operator logs in {workdir})")
        return 1
    if not args.keep:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
