"""`when` on nodes end to end: false skips (WhenFalse) and dependents still run; a bad expression is Invalid."""

from __future__ import annotations

import pytest

from switchyard.sandbox.jobsim import JobSimulator
from tests.emulated.conftest import Kube
from tests.emulated.test_templates import make_template, run

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def test_when_skips_or_runs_nodes_on_upstream_results_and_input(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [
        {"name": "a", "component": "proc"},  # the simulator's output: {"node": "a", ...}
        {"name": "b", "component": "proc", "dependsOn": ["a"], "when": 'upstream.a.result.node == "zzz"'},
        {"name": "after-b", "component": "proc", "dependsOn": ["b"]},
        {
            "name": "d",
            "component": "proc",
            "dependsOn": ["a"],
            "when": 'upstream.a.result.node == "a" && upstream.a.phase == "Succeeded" && input.size == 5',
        },
        {"name": "e", "component": "proc", "dependsOn": ["a"], "when": "upstream.a.result.missing > 1"},
    ]
    kube.create("Workflow", "gated", {"input": {"data": "hello"}, "nodes": nodes})
    status = kube.wait_phase("gated", "Succeeded", "Failed")
    phases = {n: (s["phase"], s.get("reason")) for n, s in status["nodes"].items()}
    assert phases == {
        "a": ("Succeeded", None),
        "b": ("Skipped", "WhenFalse"),
        "after-b": ("Succeeded", None),  # a Skipped-by-when dependency counts as done
        "d": ("Succeeded", None),
        "e": ("Skipped", "WhenFalse"),
    }
    assert status["phase"] == "Succeeded" and status["progress"] == "5/5"
    assert status["nodes"]["b"]["message"] == 'when is false: upstream.a.result.node == "zzz"'
    assert "when could not be evaluated, taken as false" in status["nodes"]["e"]["message"]
    assert "missing" in status["nodes"]["e"]["message"]
    started = {s.node for s in sim.started if s.namespace == kube.namespace}
    assert started == {"a", "after-b", "d"}  # a skipped node never had a Job
    assert "2 skipped (when false)" in status["message"]
    kube.wait_event("gated", "WhenFalse")


def test_a_when_that_can_never_work_makes_the_workflow_invalid(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"], "when": "upstream.c.phase == 'Succeeded'"},
        {"name": "c", "component": "proc"},
    ]
    kube.create("Workflow", "badwhen", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("badwhen", "Invalid")
    assert status["message"].startswith("node 'b': when: CEL check error: upstream.c is not a dependency of this node")
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"]) == ("False", "InvalidWhen")
    assert not [s for s in sim.started if s.namespace == kube.namespace]


def test_when_sees_the_parameters_of_a_template_run(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    make_template(
        kube,
        "gated-template",
        {
            "input": {"data": "x"},
            "nodes": [
                {"name": "a", "component": "proc"},
                {"name": "slow-only", "component": "proc", "dependsOn": ["a"], "when": 'params.mode == "slow"'},
                {"name": "fast-only", "component": "proc", "dependsOn": ["a"], "when": 'params.mode == "fast"'},
            ],
        },
    )
    run(kube, "gated-run", "gated-template", mode="fast")
    status = kube.wait_phase("gated-run", "Succeeded", "Failed")
    phases = {n: (s["phase"], s.get("reason")) for n, s in status["nodes"].items()}
    assert phases == {"a": ("Succeeded", None), "slow-only": ("Skipped", "WhenFalse"), "fast-only": ("Succeeded", None)}
