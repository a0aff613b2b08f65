"""`Component.spec.maxConcurrentRuns` end to end: three Workflows share a component limited to one Job at a
time; the others wait (Pending, WaitingForComponent), first come first served, and all finish."""

from __future__ import annotations

from typing import Any

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated


def most_at_once(sim: JobSimulator, namespace: str) -> int:
    """The most simulated Jobs running at the same time (from the simulator's record of starts and ends)."""
    ends = {f.job: f.at for f in sim.finished}
    edges = []
    for start in sim.started:
        if start.namespace == namespace:
            edges += [(start.at, 1), (ends.get(start.job, float("inf")), -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        now += step
        most = max(most, now)
    return most


def workflow(component: str) -> dict[str, Any]:
    return {"input": {"data": "x"}, "nodes": [{"name": "work", "component": component}]}


def test_at_most_one_job_of_the_component_across_three_workflows(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("single", maxConcurrentRuns=1)
    sim.rule = lambda job: Outcome(delay=2.0)
    for name in ("first", "second", "third"):
        kube.create("Workflow", name, workflow("single"))
        wait_for(lambda n=name: kube.status("Workflow", n).get("nodes"), 10, what=f"{name} started")
    # one runs, two wait, and the Component says so
    component = wait_for(
        lambda: (s := kube.status("Component", "single")).get("running") == 1 and s.get("waiting") == 2 and s,
        15,
        what="Component status running 1, waiting 2",
    )
    assert component["running"] == 1

    def waiters() -> list[dict[str, Any]] | None:
        nodes = [
            kube.status("Workflow", name).get("nodes", {}).get("work", {}) for name in ("first", "second", "third")
        ]
        found = [node for node in nodes if node.get("reason") == "WaitingForComponent"]
        return found if len(found) == 2 else None

    waiting = wait_for(waiters, 10, what="two nodes WaitingForComponent")
    assert all(n["phase"] == "Pending" and n["message"] == "waiting for component single: 1/1 running" for n in waiting)
    assert all(n.get("readyAt") for n in waiting)
    assert "waiting for component single" in kube.wait_event("third", "WaitingForComponent").message
    for name in ("first", "second", "third"):
        kube.wait_phase(name, "Succeeded", timeout=30)
    assert most_at_once(sim, kube.namespace) == 1
    order = [s.job for s in sim.started if s.namespace == kube.namespace]
    assert len(order) == 3 and [job.split("-")[0] for job in order] == ["first", "second", "third"], order
    wait_for(
        lambda: (s := kube.status("Component", "single")).get("running") == 0 and s.get("waiting") == 0,
        10,
        what="Component status running 0, waiting 0",
    )


def test_unlimited_component_runs_all_at_once(kube: Kube, sim: JobSimulator, running_operator: OperatorProcess) -> None:
    kube.component("many")
    seen: list[SimJob] = []

    def rule(job: SimJob) -> Outcome:
        seen.append(job)
        return Outcome(delay=1.0)

    sim.rule = rule
    for name in ("a", "b", "c"):
        kube.create("Workflow", name, workflow("many"))
    for name in ("a", "b", "c"):
        kube.wait_phase(name, "Succeeded", timeout=30)
    assert most_at_once(sim, kube.namespace) >= 2
    assert "running" not in kube.status("Component", "many")


@pytest.mark.parametrize(("value", "says"), [(0, "must be greater than or equal to 1"), ("two", "integer")])
def test_bad_limits_are_refused_by_the_schema(kube: Kube, value: object, says: str) -> None:
    import kubernetes

    with pytest.raises(kubernetes.client.ApiException) as refused:
        kube.component("bad", maxConcurrentRuns=value)
    assert refused.value.status == 422
    assert "maxConcurrentRuns" in str(refused.value.body) and says in str(refused.value.body)


def test_a_stopped_workflow_frees_its_slot_for_the_waiting_one(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("single", maxConcurrentRuns=1)
    sim.rule = lambda job: Outcome(delay=60.0 if job.name.startswith("hog") else 0.2)
    kube.create("Workflow", "hog", workflow("single"))
    wait_for(lambda: [s for s in sim.started if s.namespace == kube.namespace], 10, what="hog's Job running")
    kube.create("Workflow", "next", workflow("single"))
    wait_for(
        lambda: kube.status("Workflow", "next").get("nodes", {}).get("work", {}).get("reason") == "WaitingForComponent",
        10,
        what="next waiting",
    )
    patch = {"metadata": {"annotations": {"switchyard.dev/stop": "test"}}}
    kube.custom.patch_namespaced_custom_object("switchyard.dev", "v1alpha1", kube.namespace, "workflows", "hog", patch)
    kube.wait_phase("hog", "Failed", timeout=15)
    # well before the 30 s resync: the deleted Job's watch event wakes the waiting Workflow
    kube.wait_phase("next", "Succeeded", timeout=12)
