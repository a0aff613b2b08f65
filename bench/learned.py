"""Learned runtime estimates on the WfCommons DAGs (issue 24 item 5, first half): the planner with estimates
it learned from one warm-up run against FIFO and against true estimates, under a parallelism cap P.

Run: `python bench/learned.py [--sigma 0.25] [--seed 1]`. Each DAG's tasks run as Components by task type (the
WfCommons id without its number: `mProject_ID0000001` -> `mProject`; join nodes are one `join` component), none
with `runtimeEstimateSeconds`: what a user who guessed nothing gets. Per DAG and P:

1. warm-up: the engine runs the DAG once (FIFO: nothing is known yet) on a virtual clock; every Job's observed run
   time is its WfCommons runtime times lognormal noise (sigma `--sigma`), recorded by the engine's real path
   (`JobResult.ran_seconds` -> `logic.stats.StatsBook`: per component, a window of the last 100 runs);
2. the measured runs, on the true runtimes, in each ready order: FIFO (spec/level order, no estimates),
   learned (`logic.stats.learned_estimates`: each component's observed p50, planned by `logic.plan`),
   true per component (each component's true median runtime, the best a `runtimeEstimateSeconds` per Component
   can say) and the per-node oracle (every node's exact runtime, as bench/engine.py plans).

Makespans are virtual seconds; ratios are to the bound max(CP, work / P). Results: docs/benchmarks.md
("Learned estimates").
"""

from __future__ import annotations

import argparse
import heapq
import random
import re
import statistics
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import wfcommons
from engine import FifoQueue
from switchyard.logic.dag import Dag
from switchyard.logic.plan import plan_keys
from switchyard.logic.priority import node_runtimes
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.logic.stats import StatsBook, learned_estimates
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec
from wfcommons import BenchDag

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPEC = ComponentSpec(image="example.com/bench:1")  # no runtimeEstimateSeconds
CAPS = (10, 32, 100)
JOIN = "join"


def task_type(task_id: str) -> str:
    """`mProject_ID0000001` -> `mProject`; ids with a sample name inside (epigenomics) -> their first word."""
    kind = re.sub(r"[_-]?(ID)?\d+$", "", task_id)
    return kind.split("_")[0] if re.search(r"\d", kind) else kind


def components_of(bench: BenchDag) -> dict[str, str]:
    """Node -> its component name (a DNS label of its task type; join nodes share one)."""
    by_node = {node: wfcommons.node_name(task_type(task)).replace(".", "-") for task, node in bench.names.items()}
    return {node["name"]: by_node.get(node["name"], JOIN) for node in bench.nodes}


def build(bench: BenchDag, components: Mapping[str, str]) -> Dag:
    return Dag.build([NodeSpec.model_validate({**node, "component": components[node["name"]]}) for node in bench.nodes])


def run(
    bench: BenchDag,
    dag: Dag,
    parallelism: int,
    keys: dict[str, tuple[float, int]] | None,
    *,
    observed: Mapping[str, float] | None = None,
    stats: StatsBook | None = None,
) -> float:
    """The engine to the end on a virtual clock (nodes take their true runtimes); the makespan. `keys` None:
    FIFO. With `stats`, each Job's `observed` run time (default: true) is recorded as the operator does."""
    specs = dict.fromkeys({spec.component for spec in dag.nodes.values()}, SPEC)
    engine = WorkflowRun(
        bench.name, dag, {}, parallelism=parallelism, failure_policy="Continue", started_at=T0, keys=keys
    )
    if keys is None:
        waiting = set(engine.ready)
        engine.ready = FifoQueue(node for node in dag.order if node in waiting)  # type: ignore[assignment]
    engine.stats = stats
    breakers = BreakerBook()
    queue: list[tuple[float, str, int]] = []
    now = 0.0
    results: dict[str, JobResult] = {}
    while True:
        plan = engine.step(results, specs, breakers, T0 + timedelta(seconds=now))
        for launch in plan.launches:
            heapq.heappush(queue, (now + bench.runtime[launch.node], launch.node, launch.attempt))
        if engine.finished or not queue:
            break
        now = queue[0][0]
        results = {}
        while queue and queue[0][0] == now:
            _, node, attempt = heapq.heappop(queue)
            seconds = (observed or bench.runtime)[node]
            results[node] = JobResult(
                node, attempt, "Succeeded", finished_at=T0 + timedelta(seconds=now), ran_seconds=seconds
            )
    if not engine.succeeded:
        raise RuntimeError(f"{bench.name}: the run did not succeed ({engine.progress})")
    return now


def compare(bench: BenchDag, parallelism: int, sigma: float, seed: int) -> dict[str, float]:
    components = components_of(bench)
    dag = build(bench, components)
    rng = random.Random(f"{seed}-{bench.name}-{parallelism}")
    noisy = {node: runtime * rng.lognormvariate(0.0, sigma) for node, runtime in bench.runtime.items()}
    book = StatsBook()
    run(bench, dag, parallelism, None, observed=noisy, stats=book)  # the warm-up run: FIFO, nothing known
    specs = dict.fromkeys(book.stats, SPEC)
    learned = learned_estimates(specs, book.stats)
    by_component: dict[str, list[float]] = {}
    for node, component in components.items():
        by_component.setdefault(component, []).append(bench.runtime[node])
    true_medians = {component: statistics.median(values) for component, values in by_component.items()}
    return {
        "fifo": run(bench, dag, parallelism, None),
        "learned": run(bench, dag, parallelism, plan_keys(dag, node_runtimes(dag, learned), parallelism)),
        "true": run(bench, dag, parallelism, plan_keys(dag, node_runtimes(dag, true_medians), parallelism)),
        "oracle": run(bench, dag, parallelism, plan_keys(dag, bench.runtime, parallelism)),
        "bound": max(bench.critical_path(), bench.total_work() / parallelism),
        "components": len(by_component),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=0.25, help="lognormal noise of observed run times")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"# warm-up noise: lognormal sigma {args.sigma}, seed {args.seed}; makespans in virtual seconds")
    header = (
        "| DAG | components | P | bound (s) | FIFO (s) | learned (s) | true per component (s) | oracle per node (s) "
        "| FIFO / bound | learned / bound | true / bound | oracle / bound | learned / true |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    totals: dict[int, dict[str, list[float]]] = {}
    for bench in wfcommons.load_all():
        for cap in CAPS:
            got = compare(bench, cap, args.sigma, args.seed)
            bound = got["bound"]
            ratios = {k: got[k] / bound for k in ("fifo", "learned", "true", "oracle")}
            for k, ratio in ratios.items():
                totals.setdefault(cap, {}).setdefault(k, []).append(ratio)
            print(
                f"| {bench.name} | {got['components']:.0f} | {cap} | {bound:.1f} | {got['fifo']:.1f} "
                f"| {got['learned']:.1f} | {got['true']:.1f} | {got['oracle']:.1f} | {ratios['fifo']:.3f} "
                f"| {ratios['learned']:.3f} | {ratios['true']:.3f} | {ratios['oracle']:.3f} "
                f"| {got['learned'] / got['true']:.3f} |",
                flush=True,
            )
    print()
    print("| P | geomean FIFO / bound | learned / bound | true / bound | oracle / bound |")
    print("|---|---|---|---|---|")
    for cap, by in totals.items():
        means = {k: statistics.geometric_mean(v) for k, v in by.items()}
        print(f"| {cap} | {means['fifo']:.3f} | {means['learned']:.3f} | {means['true']:.3f} | {means['oracle']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
