"""`forEach` across SIGKILLs of the operator: mid-expansion and mid-run, every instance runs exactly once and
the fan-in sees every item's result in index order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.k8s.observer import FULL_EVERY
from switchyard.logic import naming
from switchyard.models.workflow import MAX_FOREACH_ITEMS
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for
from tests.emulated.test_reliability import jobs_per_key, namespace, own_operator

pytestmark = pytest.mark.emulated
__all__ = ["namespace", "own_operator"]  # the fixtures: an operator of this test alone, in its own namespace

ITEMS = 12


def split_and_map(max_parallel: int) -> list[dict[str, Any]]:
    """`split` and `map`, a forEach over split's result list."""
    for_each = {"fromNode": "split", "maxParallel": max_parallel}
    return [
        {"name": "split", "component": "proc"},
        {"name": "map", "component": "proc", "dependsOn": ["split"], "forEach": for_each},
    ]


def test_sigkill_mid_expansion_and_mid_run_runs_every_instance_once(
    kube: Kube, sim: JobSimulator, own_operator: OperatorProcess
) -> None:
    kube.component("proc", retry={"limit": 0})

    def rule(job: SimJob) -> Outcome:
        if job.node == "split":
            return Outcome(delay=0.2, message=json.dumps([f"chunk-{i}" for i in range(ITEMS)]))
        if "switchyard/item" in job.files:
            return Outcome(delay=0.4, message=json.dumps({"got": json.loads(job.files["switchyard/item"])}))
        return Outcome(delay=0.1, message=json.dumps(sorted(p for p in job.files if p.startswith("switchyard/up"))))

    sim.rule = rule
    nodes = [*split_and_map(3), {"name": "merge", "component": "proc", "dependsOn": ["map"]}]
    kube.create("Workflow", "durable", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 5})

    def instances_started() -> int:
        return len([s for s in sim.started if s.namespace == kube.namespace and (s.node or "").startswith("map.")])

    def where() -> str:
        """What a failed wait saw: the nodes' phases, the Jobs and the simulator's starts, the operator's log."""
        nodes = {
            n: (s.get("phase"), s.get("job"))
            for n, s in (kube.status("Workflow", "durable").get("nodes") or {}).items()
        }
        jobs = sorted(
            (j.metadata.name, f"active={j.status.active} succeeded={j.status.succeeded}") for j in kube.jobs()
        )
        starts = [(s.node, s.attempt) for s in sim.started if s.namespace == kube.namespace]
        ended = [(f.node, f.attempt) for f in sim.finished if f.node]
        return f"nodes {nodes}\njobs {jobs}\nstarted {starts}\nfinished {ended}\nlog:\n{own_operator.log()[-6000:]}"

    for target in (1, 4, 8):  # right after the expansion's first Jobs, then mid-run twice
        try:
            wait_for(lambda t=target: instances_started() >= t, 30, what=f"{target} instances started")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{where()}") from exc
        own_operator.kill()
        own_operator.start()
        own_operator.wait_ready()
    status = kube.wait_phase("durable", "Succeeded", "Failed", timeout=90)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["nodes"]["map"]["progress"] == f"{ITEMS}/{ITEMS}"
    started = [(s.node, s.attempt) for s in sim.started if s.namespace == kube.namespace]
    assert len(started) == len(set(started)) == ITEMS + 2, started  # each (node, attempt) once
    assert {n for n, _ in started} == {"split", "merge", *(f"map.{i}" for i in range(ITEMS))}
    assert all(n == 1 for n in jobs_per_key(kube).values())
    shards = naming.output_shards(3 + 2 * MAX_FOREACH_ITEMS)
    results = json.loads(kube.configmap(naming.output_configmap("durable", "map", shards))["map"])
    assert results == [{"got": f"chunk-{i}"} for i in range(ITEMS)]
    merge = json.loads(kube.configmap(naming.output_configmap("durable", "merge", shards))["merge"])
    assert "switchyard/upstream/map/results.json" in merge
    assert own_operator.starts == 4


def test_a_restart_sees_the_instances_it_restores_running_finish(
    kube: Kube, sim: JobSimulator, own_operator: OperatorProcess
) -> None:
    """The restarted runner expands the forEach after its first look at the running Jobs and finds map[0] recorded
    Running: that Job finishing is news it acts on at once, not at its next look at every Job (`FULL_EVERY`)."""
    kube.component("proc", retry={"limit": 0})

    def rule(job: SimJob) -> Outcome:
        if job.node == "split":
            return Outcome(delay=0.1, message=json.dumps(["a", "b", "c"]))
        return Outcome(delay=6.0 if job.node == "map.0" else 0.1, message="{}")

    sim.rule = rule
    nodes = split_and_map(1)
    kube.create("Workflow", "restored", {"input": {"data": "x"}, "nodes": nodes})

    def recorded_job() -> str | None:
        job: str | None = ((kube.status("Workflow", "restored").get("nodes") or {}).get("map[0]") or {}).get("job")
        return job

    wait_for(recorded_job, 30, what="map[0] recorded Running")
    own_operator.kill()
    own_operator.start()
    own_operator.wait_ready()
    wait_for(lambda: any(f.node == "map.0" for f in sim.finished), 30, what="map[0] finished")
    wait_for(lambda: any(s.node == "map.1" for s in sim.started), FULL_EVERY / 2, what="map[1] started")
    status = kube.wait_phase("restored", "Succeeded", "Failed", timeout=30)
    assert status["phase"] == "Succeeded", status.get("message")
    assert all(n == 1 for n in jobs_per_key(kube).values())
