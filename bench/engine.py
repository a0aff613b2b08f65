"""The pure engine (`WorkflowRun.step`) alone on every benchdata DAG and on synthetic 5,000/20,000-node DAGs.

Run: `python bench/engine.py [--quick]`. A virtual clock and an event queue of Job completions (each node
takes its `runtime_s`) drive `step`; completions at the same virtual instant are fed in one step, as the
operator does with the Job events it has seen. Per DAG and parallelism it prints the engine's wall time
(Dag.build + WorkflowRun + all steps), the number of steps, the makespan / critical path (with unlimited
parallelism it must be 1.0: the engine never delays a ready node) and, in a second pass under tracemalloc,
the peak memory. Results are recorded in docs/benchmarks.md ("Engine").

A second table compares ready-queue orders under a parallelism cap P (10, 32, 100) on the 12 WfCommons DAGs:
the engine's FIFO order of old (spec/level order), its critical-path order of old (bottom levels alone), its
planned order (`logic.plan`: critical path improved by forward-backward passes; each node's WfCommons runtime
is its runtime estimate), an independent reference critical-path (HLFET) list scheduler, and the lower bound
max(CP, work / P) next to the tighter lower bound of `bench/bounds.py` (the best of its window, ancestry and
pigeonhole bounds). `--orders-only` prints only that table.
"""

from __future__ import annotations

import argparse
import heapq
import platform
import sys
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import wfcommons
from bounds import lower_bound
from switchyard.logic.dag import Dag
from switchyard.logic.priority import bottom_levels
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec
from wfcommons import BenchDag

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPEC = ComponentSpec(image="example.com/bench:1")
CAPS = (10, 32, 100)


class FifoQueue:
    """The ready order before critical-path priorities: first ready, first started (spec/level order)."""

    def __init__(self, nodes: Iterable[str]) -> None:
        self._queue = deque(nodes)

    def append(self, node: str) -> None:
        self._queue.append(node)

    def pop(self) -> str:
        return self._queue.popleft()

    def clear(self) -> None:
        self._queue.clear()

    def __bool__(self) -> bool:
        return bool(self._queue)


def critical_keys(dag: Dag, runtime: dict[str, float]) -> dict[str, tuple[float, int]]:
    """Critical-path (HLFET) order, unplanned: longest remaining path first, ties by spec order."""
    levels = bottom_levels(dag, runtime)
    return {node: (-levels[node], i) for i, node in enumerate(dag.nodes)}


def simulate(bench: BenchDag, parallelism: int, order: str = "plan") -> tuple[float, int, float]:
    """Run the engine to the end on a virtual clock: (engine wall seconds, steps, makespan in virtual seconds).

    Every node runs its own component, whose runtime estimate is the node's WfCommons runtime. `order`: the
    engine's own planned order ("plan", `logic.plan`), bottom levels alone ("cp") or the old FIFO ("fifo")."""
    started = time.perf_counter()
    dag = Dag.build([NodeSpec.model_validate({**node, "component": node["name"]}) for node in bench.nodes])
    components = dict.fromkeys(dag.nodes, SPEC)
    run = WorkflowRun(
        bench.name,
        dag,
        {},
        parallelism=parallelism,
        failure_policy="Continue",
        started_at=T0,
        runtime_estimates=bench.runtime,
        keys=critical_keys(dag, bench.runtime) if order in ("cp", "fifo") else None,
    )
    if order == "fifo":
        waiting = set(run.ready)
        run.ready = FifoQueue(node for node in dag.order if node in waiting)  # type: ignore[assignment]
    breakers = BreakerBook()
    queue: list[tuple[float, str, int]] = []
    now = 0.0
    steps = 0
    results: dict[str, JobResult] = {}
    while True:
        at = T0 + timedelta(seconds=now)
        plan = run.step(results, components, breakers, at)
        steps += 1
        for launch in plan.launches:
            heapq.heappush(queue, (now + bench.runtime[launch.node], launch.node, launch.attempt))
        if run.finished or not queue:
            break
        now = queue[0][0]
        results = {}
        while queue and queue[0][0] == now:
            _, node, attempt = heapq.heappop(queue)
            results[node] = JobResult(node, attempt, "Succeeded", finished_at=T0 + timedelta(seconds=now))
    wall = time.perf_counter() - started
    if not run.succeeded:
        raise RuntimeError(f"{bench.name}: the run did not succeed ({run.progress})")
    return wall, steps, now


def reference_cp_schedule(bench: BenchDag, parallelism: int) -> float:
    """Textbook critical-path list scheduling (HLFET), written apart from the engine: the makespan."""
    deps = bench.deps
    dependents: dict[str, list[str]] = {name: [] for name in deps}
    for name, node_deps in deps.items():
        for dep in node_deps:
            dependents[dep].append(name)
    level: dict[str, float] = {}
    for node in reversed(bench.nodes):  # dependency order, reversed
        name = node["name"]
        level[name] = bench.runtime[name] + max((level[c] for c in dependents[name]), default=0.0)
    position = {node["name"]: i for i, node in enumerate(bench.nodes)}
    waiting = {name: len(node_deps) for name, node_deps in deps.items()}
    ready = [(-level[n], position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < parallelism:
            _, _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + bench.runtime[name], name))
        now = running[0][0]
        while running and running[0][0] == now:
            _, name = heapq.heappop(running)
            for child in dependents[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (-level[child], position[child], child))
    return now


def compare_orders(dags: list[BenchDag]) -> list[str]:
    """The ready-order table; returns the DAG/P pairs where the engine's plan is worse than the reference."""
    print()
    header = (
        "| DAG | P | bound max(CP, work/P) (s) | lower bound (s) | FIFO makespan (s) | critical-path makespan (s) "
        "| planned makespan (s) | reference HLFET (s) | FIFO / bound | critical-path / bound | planned / bound "
        "| planned / lower bound | planned / reference |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    worse = []
    tally: Counter[str] = Counter()
    for bench in dags:
        cp = bench.critical_path()
        for cap in CAPS:
            bound = max(cp, bench.total_work() / cap)
            fifo = simulate(bench, cap, "fifo")[2]
            critical = simulate(bench, cap, "cp")[2]
            ours = simulate(bench, cap, "plan")[2]
            reference = reference_cp_schedule(bench, cap)
            names = [node["name"] for node in bench.nodes]
            lower = lower_bound(names, bench.deps, bench.runtime, cap)
            if ours > reference + 1e-6:
                worse.append(f"{bench.name} P={cap}: {ours:.1f} > reference {reference:.1f}")
            if abs(critical - reference) > 1e-6:
                worse.append(f"{bench.name} P={cap}: critical-path order {critical:.1f} != reference {reference:.1f}")
            unreachable = lower > 1.05 * bound
            tally["pairs"] += 1
            tally["critical-path order within 1.05 x max(CP, work/P)"] += critical <= 1.05 * bound
            tally["planned within 1.05 x max(CP, work/P)"] += ours <= 1.05 * bound
            tally["1.05 x max(CP, work/P) unreachable (lower bound above it)"] += unreachable
            tally["planned within 1.05 x max(CP, work/P), or that unreachable"] += ours <= 1.05 * bound or unreachable
            tally["planned within 1.05 x lower bound"] += ours <= 1.05 * lower
            print(
                f"| {bench.name} | {cap} | {bound:.1f} | {lower:.1f} | {fifo:.1f} | {critical:.1f} | {ours:.1f} "
                f"| {reference:.1f} | {fifo / bound:.3f} | {critical / bound:.3f} | {ours / bound:.3f} "
                f"| {ours / lower:.3f} | {ours / reference:.3f} |",
                flush=True,
            )
    print()
    for what, count in tally.items():
        print(f"{what}: {count}")
    return worse


def peak_memory(bench: BenchDag, parallelism: int) -> int:
    tracemalloc.start()
    try:
        simulate(bench, parallelism)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 20,000-node DAG and the memory pass")
    parser.add_argument("--limited", type=int, default=100, help="the limited parallelism (default 100)")
    parser.add_argument("--orders-only", action="store_true", help="only the FIFO vs critical-path table")
    args = parser.parse_args(argv)
    if args.orders_only:
        worse = compare_orders(wfcommons.load_all())
        for line in worse:
            print("WORSE THAN REFERENCE:", line)
        return 1 if worse else 0

    dags = [*wfcommons.load_all(), wfcommons.synthetic_layered(5000, 100, seed=5)]
    if not args.quick:
        dags.append(wfcommons.synthetic_layered(20000, 200, seed=20))
    print(f"# Python {platform.python_version()} on {platform.machine()}, virtual clock; times are engine wall time")
    header = (
        "| DAG | nodes | edges | CP (s) | unlimited: wall (ms) | steps | makespan/CP "
        f"| parallelism {args.limited}: wall (ms) | steps | makespan/bound | peak mem (MiB) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    bad = []
    for bench in dags:
        cp = bench.critical_path()
        wall_u, steps_u, makespan_u = simulate(bench, parallelism=len(bench.nodes))
        wall_l, steps_l, makespan_l = simulate(bench, parallelism=args.limited)
        bound = max(cp, bench.total_work() / args.limited)  # no schedule of width P beats this
        ratio_u = makespan_u / cp if cp else 1.0
        if abs(ratio_u - 1.0) > 1e-9:
            bad.append(f"{bench.name}: makespan/CP {ratio_u:.6f} with unlimited parallelism")
        memory = f"{peak_memory(bench, len(bench.nodes)) / 2**20:.1f}" if not args.quick else "-"
        print(
            f"| {bench.name} | {len(bench.nodes)} | {bench.edges} | {cp:.1f} | {wall_u * 1000:.1f} | {steps_u} "
            f"| {ratio_u:.6f} | {wall_l * 1000:.1f} | {steps_l} | {makespan_l / bound:.3f} | {memory} |",
            flush=True,
        )
    worse = compare_orders(dags[:12])
    for line in bad:
        print("NOT 1.0:", line)
    for line in worse:
        print("WORSE THAN REFERENCE:", line)
    return 1 if bad or worse else 0


if __name__ == "__main__":
    sys.exit(main())
