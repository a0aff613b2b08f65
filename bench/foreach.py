"""The pure engine expanding and running one `forEach` node of 10,000 and 100,000 items (issue 21).

Run: `python bench/foreach.py [--sizes 10000,100000] [--batch 100]`. The Workflow is `split -> map -> merge`,
`map` a forEach node with `maxParallel` 1,000 (parallelism 1,000). 10,000 items are inline (`forEach.items`,
validated by the model, which caps inline items at 10,000); for 100,000 `map` has `fromNode: split` and the
list is handed to the engine as the observe half would (`ItemsFact`, bypassing the 10,000 cap of
`items_of`), so the engine's expansion is the same code path. Results are fed back as the unit tests do
(`tests/unit/test_foreach.py`): Succeeded `JobResult`s with a small output, the oldest `--batch` running
instances per step (0: every instance in flight at once), on one virtual instant.

Per size it prints: the expansion (`WorkflowRun._expand` alone, and the whole step that expands and starts
the first 1,000), the run of every instance to the end (wall, steps), the engine's CPU per instance (process
time of the whole run / items), tracemalloc's peak in a second, traced pass, and the compact status wire
form at the end (`RunState.node_wire` of every node, nulls dropped, as the status write stores it; with the
inline items of the spec for 10,000, as `test_ten_thousand_instances_keep_the_status_under_one_mib` counts)
against etcd's 1 MiB object bound. Results are recorded in docs/benchmarks.md ("forEach expansion (engine)").
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from switchyard.logic.dag import Dag
from switchyard.logic.features import Expand
from switchyard.logic.foreach import ForEachFeature, ItemsFact
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.logic.steps import Plan
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import MAX_FOREACH_ITEMS, ForEach, NodeSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COMPONENTS = {"c": ComponentSpec.model_validate({"image": "example.com/bench:1", "retry": {"limit": 0}})}
PARALLELISM = 1000
MIB = 1024 * 1024


@dataclass
class Figures:
    items: int
    source: str
    expand_s: float = 0.0
    expand_step_s: float = 0.0
    run_s: float = 0.0
    cpu_s: float = 0.0
    steps: int = 0
    wire_bytes: int = 0
    nodes_bytes: int = 0
    peak_bytes: int = 0


def workflow(items: list[Any]) -> tuple[list[NodeSpec], str]:
    inline = len(items) <= MAX_FOREACH_ITEMS
    source: dict[str, Any] = {"items": items} if inline else {"fromNode": "split"}
    nodes = [
        NodeSpec(name="split", component="c"),
        NodeSpec(
            name="map",
            component="c",
            depends_on=["split"],
            for_each=ForEach.model_validate({**source, "maxParallel": PARALLELISM}),
        ),
        NodeSpec(name="merge", component="c", depends_on=["map"]),
    ]
    return nodes, "inline items" if inline else "fromNode list"


def ok(run: WorkflowRun, node: str, output: str) -> JobResult:
    state = run.nodes[node]
    return JobResult(node, state.attempts, "Succeeded", state.job or "", T0, "", output)


def drive(count: int, batch: int) -> Figures:
    """One run, start to end: the figures (peak memory is left 0: see `peak_memory`)."""
    items = [{"chunk": i} for i in range(count)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    nodes, source = workflow(items)
    figures = Figures(count, source)
    run = WorkflowRun(
        "bench",
        Dag.build(nodes),
        {},
        parallelism=PARALLELISM,
        failure_policy="ContinueOnFailure",
        started_at=T0,
        features=[ForEachFeature()],
    )
    expand = run._expand

    def timed_expand(node: str, verdict: Expand, now: datetime, plan: Plan) -> None:
        started = time.perf_counter()
        expand(node, verdict, now, plan)
        figures.expand_s += time.perf_counter() - started

    run._expand = timed_expand  # type: ignore[method-assign]
    book = BreakerBook()
    plan = run.step({}, COMPONENTS, book, T0)
    started = time.perf_counter()
    plan = run.step({"split": ok(run, "split", "[]")}, COMPONENTS, book, T0)
    if source == "fromNode list":
        assert plan.wanted == {"forEach": {"map"}}, plan.wanted
        plan = run.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact(tuple(items))}})
    figures.expand_step_s = time.perf_counter() - started
    figures.steps = 3 if source == "fromNode list" else 2
    in_flight: deque[str] = deque(launch.node for launch in plan.launches)
    while in_flight:
        take = len(in_flight) if batch <= 0 else min(batch, len(in_flight))
        done = [in_flight.popleft() for _ in range(take)]
        results = {node: ok(run, node, f'{{"n":{run.index[node] % 100_000}}}') for node in done}
        plan = run.step(results, COMPONENTS, book, T0)
        figures.steps += 1
        in_flight.extend(launch.node for launch in plan.launches)
    figures.run_s = time.perf_counter() - wall0
    figures.cpu_s = time.process_time() - cpu0
    if not (run.finished and run.succeeded and run.nodes["map"].progress == f"{count}/{count}"):
        raise RuntimeError(f"{count} items: the run did not succeed ({run.progress}, map {run.nodes['map'].progress})")
    stored = {n: {k: v for k, v in run.node_wire(n).items() if v is not None} for n in run.nodes}
    wire: dict[str, Any] = {"nodes": stored}
    figures.nodes_bytes = len(json.dumps(wire, separators=(",", ":")).encode())
    if source == "inline items":
        wire["spec"] = {"items": items}
    figures.wire_bytes = len(json.dumps(wire, separators=(",", ":")).encode())
    return figures


def peak_memory(count: int, batch: int) -> int:
    tracemalloc.start()
    try:
        drive(count, batch)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="item counts, comma-separated")
    parser.add_argument("--batch", type=int, default=100, help="results per step (0: all in flight)")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced pass")
    args = parser.parse_args(argv)
    print(
        f"# Python {platform.python_version()} on {platform.machine()}, parallelism = maxParallel = {PARALLELISM}, "
        f"{args.batch or 'all in-flight'} results per step; times are engine wall time"
    )
    header = (
        "| items | source | expansion `_expand` (ms) | expanding step (ms) | whole run (s) | steps "
        "| CPU / instance (us) | peak mem (MiB) | status.nodes wire (bytes) | with spec items (bytes) | of 1 MiB |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    over = []
    for count in (int(size) for size in args.sizes.split(",")):
        f = drive(count, args.batch)
        peak = "-" if args.no_memory else f"{peak_memory(count, args.batch) / MIB:.1f}"
        share = f.wire_bytes / MIB
        if share >= 1:
            over.append(f"{count} items: the status wire form is {f.wire_bytes:,} bytes, over 1 MiB")
        print(
            f"| {count:,} | {f.source} | {f.expand_s * 1000:.1f} | {f.expand_step_s * 1000:.1f} | {f.run_s:.2f} "
            f"| {f.steps:,} | {f.cpu_s / count * 1e6:.1f} | {peak} | {f.nodes_bytes:,} "
            f"| {f.wire_bytes:,} | {share:.0%} |",
            flush=True,
        )
    for line in over:
        print("OVER:", line)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
