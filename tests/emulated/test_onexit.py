"""`spec.onExit` end to end: exit nodes run after the DAG whatever its outcome, see workflow.json, and a
second `switchyard stop` skips them."""

from __future__ import annotations

import json
import pathlib

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for
from tests.emulated.test_cli import cli

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]
SUMMARY = "switchyard/workflow.json"


def test_exit_nodes_run_after_a_failed_dag_and_see_its_summary(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    seen: dict[str, str] = {}

    def rule(job: SimJob) -> Outcome | None:
        if job.node == "b":
            return Outcome(succeed=False, message="bad record 7")
        if job.node in ("notify", "report"):
            seen[job.node] = job.files.get(SUMMARY, "")
        return None

    sim.rule = rule
    spec = {
        "input": {"data": "x"},
        "nodes": [{"name": "a", "component": "proc"}, {"name": "b", "component": "proc", "dependsOn": ["a"]}],
        "onExit": [
            {"name": "notify", "component": "proc"},
            {"name": "report", "component": "proc", "dependsOn": ["notify"]},
        ],
    }
    kube.create("Workflow", "exits", spec)
    status = kube.wait_phase("exits", "Succeeded", "Failed")
    assert status["phase"] == "Failed" and status["message"] == "1 node(s) failed: b"  # the DAG's outcome
    assert {n: s["phase"] for n, s in status["nodes"].items()} == {
        "a": "Succeeded",
        "b": "Failed",
        "notify": "Succeeded",
        "report": "Succeeded",
    }
    summary = json.loads(seen["notify"])
    assert summary == {
        "phase": "Failed",
        "message": "1 node(s) failed: b",
        "failedCount": 1,
        "failedNodes": [{"name": "b", "reason": "BackoffLimitExceeded", "message": "bad record 7"}],
    }
    assert seen["report"] == seen["notify"]
    starts = [s.node for s in sim.started if s.namespace == kube.namespace]
    assert starts == ["a", "b", "notify", "report"]  # exit nodes only after the DAG ended, in their order


def test_a_failing_exit_node_fails_a_successful_dag(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=False) if job.node == "notify" else None
    spec = {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}], "onExit": [
        {"name": "notify", "component": "proc"}]}  # fmt: skip
    kube.create("Workflow", "exitfails", spec)
    status = kube.wait_phase("exitfails", "Succeeded", "Failed")
    assert status["phase"] == "Failed"
    assert status["message"] == "the DAG succeeded but 1 exit node(s) failed: notify"


def test_exit_nodes_run_after_a_stop_and_a_second_stop_skips_them(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=300)  # everything runs until stopped
    spec = {
        "input": {"data": "x"},
        "nodes": [{"name": "slow", "component": "proc"}],
        "onExit": [{"name": "notify", "component": "proc"}, {"name": "after", "component": "proc",
                                                               "dependsOn": ["notify"]}],
    }  # fmt: skip
    kube.create("Workflow", "stopped", spec)
    wait_for(lambda: kube.status("Workflow", "stopped").get("nodes", {}).get("slow", {}).get("phase") == "Running", 30)
    code, _, err = cli(kubeconfig, kube, capsys, "stop", "stopped")
    assert code == 0, err
    wait_for(
        lambda: kube.status("Workflow", "stopped")["nodes"].get("notify", {}).get("phase") == "Running",
        30,
        what="the exit node runs after the stop",
    )
    status = kube.status("Workflow", "stopped")
    assert status["phase"] == "Running" and status["nodes"]["slow"]["reason"] == "Stopped"
    code, _, err = cli(kubeconfig, kube, capsys, "stop", "stopped")  # the second stop
    assert code == 0, err
    assert "switchyard.dev/stop-exit" in kube.get("Workflow", "stopped")["metadata"]["annotations"]
    status = kube.wait_phase("stopped", "Failed", "Succeeded")
    assert status["phase"] == "Failed" and status["message"].startswith("stopped: ")
    nodes = {n: (s["phase"], s.get("reason")) for n, s in status["nodes"].items()}
    assert nodes == {"slow": ("Failed", "Stopped"), "notify": ("Failed", "Stopped"), "after": ("Skipped", "Stopped")}
    assert not [s for s in sim.started if s.namespace == kube.namespace and s.node == "after"]
