"""The pure engine (`WorkflowRun.step`) alone on every benchdata DAG and on synthetic 5,000/20,000-node DAGs.

Run: `python bench/engine.py [--quick]`. A virtual clock and an event queue of Job completions (each node
takes its `runtime_s`) drive `step`; completions at the same virtual instant are fed in one step, as the
operator does with the Job events it has seen. Per DAG and parallelism it prints the engine's wall time
(Dag.build + WorkflowRun + all steps), the number of steps, the makespan / critical path (with unlimited
parallelism it must be 1.0: the engine never delays a ready node) and, in a second pass under tracemalloc,
the peak memory. Results are recorded in docs/benchmarks.md ("Engine").
"""

from __future__ import annotations

import argparse
import heapq
import platform
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import wfcommons
from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec
from wfcommons import BenchDag

T0 = datetime(2025, 1, 1, tzinfo=UTC)
COMPONENTS = {"bench": ComponentSpec(image="example.com/bench:1")}


def simulate(bench: BenchDag, parallelism: int) -> tuple[float, int, float]:
    """Run the engine to the end on a virtual clock: (engine wall seconds, steps, makespan in virtual seconds)."""
    started = time.perf_counter()
    dag = Dag.build([NodeSpec.model_validate(node) for node in bench.nodes])
    run = WorkflowRun(bench.name, dag, {}, parallelism=parallelism, failure_policy="Continue", started_at=T0)
    breakers = BreakerBook()
    queue: list[tuple[float, str, int]] = []
    now = 0.0
    steps = 0
    results: dict[str, JobResult] = {}
    while True:
        at = T0 + timedelta(seconds=now)
        plan = run.step(results, COMPONENTS, breakers, at)
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
    args = parser.parse_args(argv)

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
    for line in bad:
        print("NOT 1.0:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
