"""Ready nodes beyond `parallelism` start longest estimated path first, with the estimates from Components."""

from __future__ import annotations

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for


def test_component_runtime_estimates_order_the_ready_nodes(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("quick", runtimeEstimateSeconds=1)
    kube.component("slow", runtimeEstimateSeconds=600)
    # Spec (FIFO) order would start `first` first; `heavy` is estimated far longer, so it goes first.
    nodes = [
        {"name": "first", "component": "quick"},
        {"name": "second", "component": "quick"},
        {"name": "heavy", "component": "slow"},
    ]
    kube.create("Workflow", "ordered", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 1})
    kube.wait_phase("ordered", "Succeeded", timeout=60)
    started = wait_for(
        lambda: (s := [x.node for x in sim.started if x.namespace == kube.namespace]) and len(s) == 3 and s,
        10,
        what="three Jobs started",
    )
    assert started == ["heavy", "first", "second"]


def test_the_planned_order_starts_what_the_tail_waits_for(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    """The case of `tests/unit/test_plan.py` through the operator: with two workers, longest path first would
    start `feeder` and `long` and end at 8 (estimated) seconds; the plan starts `short` beside `feeder` and
    `long` once `short` is done: 7 seconds."""
    for name, seconds in (("c-short", 1), ("c-long", 6), ("c-feeder", 4), ("c-join", 3)):
        kube.component(name, runtimeEstimateSeconds=seconds)
    nodes = [
        {"name": "short", "component": "c-short"},
        {"name": "long", "component": "c-long"},
        {"name": "feeder", "component": "c-feeder"},
        {"name": "join", "component": "c-join", "dependsOn": ["short", "feeder"]},
    ]
    kube.create("Workflow", "planned", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 2})
    kube.wait_phase("planned", "Succeeded", timeout=60)
    started = [x.node for x in sim.started if x.namespace == kube.namespace]
    assert sorted(started[:2]) == ["feeder", "short"] and started[2] == "long", started


def test_without_estimates_the_observed_median_run_time_orders_the_ready_nodes(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    """No `runtimeEstimateSeconds` anywhere: a warm-up run teaches the operator that `slow` takes ~3 s and
    `quick` ~0 s (`status.stats.duration.p50`), so the next Workflow starts `heavy` first, not in spec order."""
    kube.component("quick")
    kube.component("slow")
    sim.rule = lambda job: Outcome(delay=3.0 if job.component == "slow" else 0.05)
    warmup = [{"name": "q", "component": "quick"}, {"name": "s", "component": "slow"}]
    kube.create("Workflow", "warmup", {"input": {"data": "x"}, "nodes": warmup})
    kube.wait_phase("warmup", "Succeeded", timeout=60)
    wait_for(
        lambda: (kube.status("Component", "slow").get("stats") or {}).get("duration", {}).get("p50", 0) >= 2,
        15,
        what="slow's learned median",
    )
    nodes = [
        {"name": "first", "component": "quick"},
        {"name": "second", "component": "quick"},
        {"name": "heavy", "component": "slow"},
    ]
    kube.create("Workflow", "learned", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 1})
    kube.wait_phase("learned", "Succeeded", timeout=60)
    started = [x.node for x in sim.started if x.namespace == kube.namespace and x.job.startswith("learned-")]
    assert started == ["heavy", "first", "second"], started
