"""`spec.reuse` (what `switchyard retry` creates) of a forEach node: only its failed instances run again; the
succeeded ones are carried over with their outputs, and the fan-in sees every result in index order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.cli.actions import retry_body
from switchyard.logic import naming
from switchyard.models.workflow import MAX_FOREACH_ITEMS
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.simbase import Outcome, SimJob
from tests.emulated.conftest import Kube

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]

ITEMS = [f"chunk-{i}" for i in range(10)]


def nodes() -> list[dict[str, Any]]:
    return [
        {"name": "split", "component": "proc"},
        {
            "name": "map",
            "component": "proc",
            "dependsOn": ["split"],
            "forEach": {"fromNode": "split", "maxParallel": 4},
        },
        {"name": "merge", "component": "proc", "dependsOn": ["map"]},
    ]


def test_a_retry_reruns_only_the_failed_instances(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    broken = {"on": True}

    def rule(job: SimJob) -> Outcome | None:
        if job.node == "split":
            return Outcome(message=json.dumps(ITEMS))
        if "switchyard/item" in job.files:
            item = json.loads(job.files["switchyard/item"])
            if broken["on"] and job.node in ("map.3", "map.7"):
                return Outcome(succeed=False, message=f"bad {item}")
            return Outcome(message=json.dumps({"item": item, "by": job.workflow}))
        return None

    sim.rule = rule
    spec = {"input": {"data": "x"}, "nodes": nodes(), "failurePolicy": "Continue"}
    kube.create("Workflow", "fe", spec)
    first = kube.wait_phase("fe", "Failed")
    assert (first["nodes"]["map"]["phase"], first["nodes"]["map"]["progress"]) == ("Failed", "8/10")
    assert [first["nodes"][f"map[{i}]"]["phase"] for i in (3, 7)] == ["Failed", "Failed"]

    broken["on"] = False
    body = retry_body(kube.get("Workflow", "fe"), taken={"fe"})
    assert body["metadata"]["name"] == "fe-retry-1"
    kube.create("Workflow", "fe-retry-1", body["spec"])
    status = kube.wait_phase("fe-retry-1", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    started = sorted(s.node or "" for s in sim.started if s.job.startswith("fe-retry-1"))
    assert started == ["map.3", "map.7", "merge"]  # only the failed instances (and the fan-in) ran
    assert (status["nodes"]["map"]["phase"], status["nodes"]["map"]["progress"]) == ("Succeeded", "10/10")
    assert status["nodes"]["split"]["reason"] == "Reused"
    assert status["nodes"]["map[0]"]["reason"] == "Reused" and status["nodes"]["map[0]"]["attempts"] == 0
    assert status["nodes"]["map[3]"]["attempts"] == 1
    shards = naming.output_shards(3 + 2 * MAX_FOREACH_ITEMS)
    merge = json.loads(kube.configmap(naming.output_configmap("fe-retry-1", "merge", shards))["merge"])
    results = json.loads(merge["upstream"]["map/results.json"])
    assert [r["item"] for r in results] == ITEMS  # every result, in index order
    assert [r["by"] for r in results] == ["fe-retry-1" if i in (3, 7) else "fe" for i in range(10)]
    assert json.loads(merge["upstream"]["map/5/result"]) == {"item": "chunk-5", "by": "fe"}
    event = kube.wait_event("fe-retry-1", "Reused")
    assert event.message == "1 node(s) and 8 forEach instance(s) reused from workflow fe"
