"""Component `status.stats` end to end (issue 24 item 1): counted from the Jobs the operator sees finish, run times
from the container's start (not the Pod's pending time), disruptions not counted, status writes batched, a spec
change resets them with an Event (a restart: test_component_stats_restart.py)."""

from __future__ import annotations

from typing import Any

import pytest

from switchyard.models.crd import GROUP, VERSION
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated


def fan(component: str, names: list[str]) -> dict[str, Any]:
    return {
        "input": {"data": "x"},
        "parallelism": 100,
        "failurePolicy": "Continue",
        "nodes": [{"name": name, "component": component} for name in names],
    }


def stats_of(kube: Kube, component: str) -> dict[str, Any]:
    return kube.status("Component", component).get("stats") or {}


def component_writes(cluster: EmulatedCluster, namespace: str, name: str) -> int:
    return cluster.api.written.writes.get(f"{GROUP}/components/{namespace}/{name}", 0)


def test_stats_count_runs_failures_and_run_times_not_pending_or_disruptions(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("proc", retry={"limit": 0})

    def rule(job: SimJob) -> Outcome:
        node = job.node or ""
        if node.startswith("bad"):
            return Outcome(succeed=False, delay=1.0)
        if node == "evicted":  # the first Pod is evicted, the Job's replacement succeeds: one run
            return Outcome(delay=2.0, disruptions=1)
        return Outcome(delay=2.0, pending=3.0)  # 3 s Pending (ContainerCreating) before a 2 s run

    sim.rule = rule
    names = [f"ok{i}" for i in range(5)] + ["bad0", "bad1", "evicted"]
    kube.create("Workflow", "w", fan("proc", names))
    kube.wait_phase("w", "Failed", timeout=60)
    stats = wait_for(lambda: (s := stats_of(kube, "proc")).get("runs") == 8 and s, 15, what="8 runs counted")
    assert stats["failures"] == 2 and stats["failureRate"] == 0.25
    assert sorted(stats["window"]["outcomes"]) == sorted("SSSSSSFF")
    assert len(stats["window"]["seconds"]) == 6  # successes only
    # whole-second stamps: a 2 s run measures 1 to 3 s; with the 3 s Pending counted it would be 5 s or more
    assert 1 <= stats["duration"]["p50"] <= 3 and stats["duration"]["p99"] <= 3.5, stats
    assert stats["lastUpdated"]


def test_status_writes_are_batched_not_one_per_job(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess, emulated_cluster: EmulatedCluster
) -> None:
    kube.component("many")
    sim.rule = lambda job: Outcome(delay=1.0)
    jobs = 3 * 40
    before = component_writes(emulated_cluster, kube.namespace, "many")
    for k in range(3):
        kube.create("Workflow", f"w{k}", fan("many", [f"n{i}" for i in range(40)]))
    for k in range(3):
        kube.wait_phase(f"w{k}", "Succeeded", timeout=90)
    wait_for(lambda: stats_of(kube, "many").get("runs") == jobs, 15, what=f"{jobs} runs counted")
    writes = component_writes(emulated_cluster, kube.namespace, "many") - before
    print(f"\n{jobs} Jobs of one component: {writes} Component writes (status patches)")
    assert writes <= jobs / 4, f"{writes} Component writes for {jobs} Jobs"


def test_a_spec_change_resets_the_stats_with_an_event(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=not (job.node or "").startswith("bad"), delay=0.5)
    kube.create("Workflow", "w", fan("proc", ["a", "b", "bad"]))
    kube.wait_phase("w", "Failed", timeout=30)
    wait_for(lambda: stats_of(kube, "proc").get("runs") == 3, 15, what="3 runs counted")
    kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, "components", "proc", {"spec": {"image": "example.com/proc:2"}}
    )
    event = kube.wait_event("proc", "StatisticsReset")
    assert event.type == "Normal" and "forgot 3 runs (1 failed)" in event.message, event.message
    stats = wait_for(lambda: (s := stats_of(kube, "proc")).get("runs") == 0 and s, 15, what="stats reset")
    assert stats["failureRate"] == 0 and stats.get("window", {}).get("outcomes", "") == ""
    assert "duration" not in stats and "lastUpdated" not in stats, stats  # nothing of the old spec's runs
    kube.create("Workflow", "w2", fan("proc", ["c"]))
    kube.wait_phase("w2", "Succeeded", timeout=30)
    wait_for(lambda: stats_of(kube, "proc").get("runs") == 1, 15, what="the new spec's first run")
