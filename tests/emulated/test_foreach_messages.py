"""The Workflow's message when a forEach node's `minSuccessRatio` held although some instances failed."""

from __future__ import annotations

import pytest

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.simbase import Outcome, SimJob
from tests.emulated.conftest import Kube

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def test_a_held_ratio_is_not_all_nodes_succeeded(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})

    def rule(job: SimJob) -> Outcome | None:
        return Outcome(succeed=False, message="bad") if job.node in ("process.3", "process.7") else None

    sim.rule = rule
    nodes = [
        {"name": "process", "component": "proc", "forEach": {"items": list(range(20)), "minSuccessRatio": 0.9}},
        {"name": "merge", "component": "proc", "dependsOn": ["process"]},
    ]
    kube.create("Workflow", "ratio", {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "Continue"})
    status = kube.wait_phase("ratio", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["nodes"]["process"]["message"] == "18/20 instances of process succeeded (minSuccessRatio 0.9)"
    expected = (
        "18/20 instances of process succeeded (minSuccessRatio 0.9); 20 of 22 nodes (instances included) succeeded"
    )
    assert status["message"] == expected
    assert "all 22 nodes" not in kube.wait_event("ratio", "Succeeded").message
