"""Day-2 operations on the operator side: re-running a failed Workflow with `spec.reuse` (what `switchyard retry`
creates): succeeded nodes are not run again, their outputs are carried over; the rest runs."""

from __future__ import annotations

from typing import Any

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from tests.emulated.conftest import Kube

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def node(name: str, *deps: str) -> dict[str, Any]:
    return {"name": name, "component": "proc", "dependsOn": list(deps)}


NODES = [node("a"), node("b", "a"), node("c", "b"), node("d")]


def test_a_retry_reuses_succeeded_outputs_and_reruns_the_rest(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    broken = {"on": True}
    sim.rule = lambda job: Outcome(succeed=not (job.node == "b" and broken["on"]), message=f"{job.workflow}:{job.node}")
    spec = {"input": {"data": "x"}, "nodes": NODES, "failurePolicy": "Continue"}
    kube.create("Workflow", "wf", spec)
    first = kube.wait_phase("wf", "Failed")
    assert [first["nodes"][n]["phase"] for n in "abcd"] == ["Succeeded", "Failed", "Skipped", "Succeeded"]
    broken["on"] = False
    kube.create("Workflow", "wf-retry-1", {**spec, "reuse": {"workflow": "wf"}})
    status = kube.wait_phase("wf-retry-1", "Succeeded")
    for reused in ("a", "d"):
        assert status["nodes"][reused]["reason"] == "Reused" and status["nodes"][reused]["attempts"] == 0
    assert {s.node for s in sim.started if s.job.startswith("wf-retry-1")} == {"b", "c"}
    outputs = kube.configmap("wf-retry-1-outputs")
    assert outputs["a"] == "wf:a" and outputs["b"] == "wf-retry-1:b"  # carried over, and run anew
    assert kube.wait_event("wf-retry-1", "Reused").message == "2 node(s) reused from workflow wf"


def test_reusing_a_missing_or_running_workflow_is_invalid(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.create("Workflow", "orphan", {"input": {"data": "x"}, "nodes": NODES, "reuse": {"workflow": "nope"}})
    assert kube.wait_phase("orphan", "Invalid")["message"] == "spec.reuse: workflow 'nope' not found"
    sim.rule = lambda job: Outcome(delay=60)
    kube.create("Workflow", "busy", {"input": {"data": "x"}, "nodes": NODES})
    kube.wait_phase("busy", "Running")
    kube.create("Workflow", "early", {"input": {"data": "x"}, "nodes": NODES, "reuse": {"workflow": "busy"}})
    assert "is Running, not finished" in kube.wait_phase("early", "Invalid")["message"]
