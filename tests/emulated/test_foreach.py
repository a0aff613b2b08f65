"""`forEach` end to end: instances NODE[i] with their items, maxParallel, fan-in (`results.json`, `i/result`),
fromNode, minSuccessRatio, an empty list, and bad input (Invalid, or the node Failed)."""

from __future__ import annotations

import json

import pytest

from switchyard.logic import naming
from switchyard.models.workflow import MAX_FOREACH_ITEMS
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.simbase import Outcome, SimJob
from tests.emulated.conftest import Kube

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def echo_item(job: SimJob) -> Outcome | None:
    """An instance answers with its item and index (what its Pod reads); others as the simulator does."""
    if "switchyard/item" not in job.files:
        return None
    env = {e["name"]: e["value"] for e in job.body["spec"]["template"]["spec"]["containers"][0]["env"]}
    item = json.loads(job.files["switchyard/item"])
    return Outcome(message=json.dumps({"item": item, "index": int(env["SWITCHYARD_ITEM_INDEX"])}))


def slow_echo(job: SimJob) -> Outcome | None:
    echoed = echo_item(job)
    return None if echoed is None else Outcome(message=echoed.message, delay=0.3)


def test_inline_items_fan_out_within_max_parallel_and_fan_in(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    sim.rule = slow_echo
    items = [1, "two", {"three": 3}, [4], None]
    nodes = [
        {"name": "split", "component": "proc"},
        {"name": "map", "component": "proc", "dependsOn": ["split"], "forEach": {"items": items, "maxParallel": 2}},
        {"name": "merge", "component": "proc", "dependsOn": ["map"]},
    ]
    kube.create("Workflow", "fan", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 4})
    status = kube.wait_phase("fan", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    map_ = status["nodes"]["map"]
    assert (map_["phase"], map_["progress"]) == ("Succeeded", "5/5")
    assert {f"map[{i}]" for i in range(5)} <= set(status["nodes"])
    assert status["progress"] == "8/8"  # instances count (and the forEach node itself)
    started = [s.node for s in sim.started if s.namespace == kube.namespace]
    assert sorted(started) == sorted(["split", "merge", *(f"map.{i}" for i in range(5))])  # each once
    merge = json.loads(kube.configmap("fan-outputs")["merge"])
    results = json.loads(merge["upstream"]["map/results.json"])
    assert results == [{"item": item, "index": i} for i, item in enumerate(items)]
    assert json.loads(merge["upstream"]["map/3/result"]) == {"item": [4], "index": 3}
    assert most_at_once(sim, kube.namespace, "map.") == 2  # maxParallel (parallelism would allow 4)
    kube.wait_event("fan", "Expanded")


def most_at_once(sim: JobSimulator, namespace: str, prefix: str) -> int:
    """The most Jobs of nodes starting with `prefix` that ran at the same time (from start to finish)."""
    ends = {f.job: f.at for f in sim.finished}
    moments = [(s.at, 1) for s in sim.started if s.namespace == namespace and (s.node or "").startswith(prefix)]
    moments += [
        (ends[s.job], -1) for s in sim.started if s.namespace == namespace and (s.node or "").startswith(prefix)
    ]
    running = most = 0
    for _, change in sorted(moments, key=lambda m: (m[0], m[1])):  # an end before a start at the same moment
        running += change
        most = max(most, running)
    return most


def test_from_node_and_min_success_ratio(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")

    def rule(job: SimJob) -> Outcome | None:
        if job.node == "split":
            return Outcome(message='["a", "b", "c", "d"]')
        if job.node == "map.1":
            return Outcome(succeed=False, message="bad chunk")
        return echo_item(job)

    sim.rule = rule
    for name, ratio, phase in (("ratio-ok", 0.75, "Succeeded"), ("ratio-bad", 1, "Failed")):
        nodes = [
            {"name": "split", "component": "proc"},
            {
                "name": "map",
                "component": "proc",
                "dependsOn": ["split"],
                "forEach": {"fromNode": "split", "minSuccessRatio": ratio},
            },
            {"name": "merge", "component": "proc", "dependsOn": ["map"]},
        ]
        kube.create("Workflow", name, {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "Continue"})
        status = kube.wait_phase(name, "Succeeded", "Failed")
        assert status["phase"] == phase, (name, status.get("message"))
        assert status["nodes"]["map"]["progress"] == "3/4"
        assert status["nodes"]["map[1]"]["phase"] == "Failed"
        if phase == "Succeeded":
            shards = naming.output_shards(3 + 2 * MAX_FOREACH_ITEMS)  # fromNode: room for the most instances
            merge = json.loads(kube.configmap(naming.output_configmap(name, "merge", shards))["merge"])
            results = json.loads(merge["upstream"]["map/results.json"])
            assert [r and r["item"] for r in results] == ["a", None, "c", "d"]
        else:
            assert status["nodes"]["map"]["reason"] == "MinSuccessRatio"
            assert status["nodes"]["merge"]["phase"] == "Skipped"


def test_an_empty_list_succeeds_and_its_dependents_run(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [
        {"name": "map", "component": "proc", "forEach": {"items": []}},
        {"name": "merge", "component": "proc", "dependsOn": ["map"]},
    ]
    kube.create("Workflow", "empty", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("empty", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded"
    assert (status["nodes"]["map"]["phase"], status["nodes"]["map"]["progress"]) == ("Succeeded", "0/0")
    merge = json.loads(kube.configmap("empty-outputs")["merge"])
    assert merge["upstream"] == {"map/results.json": "[]"}


def test_bad_for_each_is_invalid_or_fails_the_node(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [
        {"name": "split", "component": "proc"},
        {"name": "other", "component": "proc"},
        {"name": "map", "component": "proc", "dependsOn": ["split"], "forEach": {"fromNode": "other"}},
    ]
    kube.create("Workflow", "notdep", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("notdep", "Invalid")
    assert "forEach.fromNode 'other' is not one of its dependsOn" in status["message"]
    kube.wait_event("notdep", "InvalidForEach")
    nodes = [
        {"name": "split", "component": "proc"},
        {"name": "map", "component": "proc", "dependsOn": ["split"], "forEach": {"fromNode": "split"}},
    ]
    sim.rule = lambda job: Outcome(message='{"not": "a list"}') if job.node == "split" else None
    kube.create("Workflow", "notlist", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("notlist", "Failed")
    assert status["nodes"]["map"]["phase"] == "Failed"
    assert "its result is not a JSON list (got dict)" in status["nodes"]["map"]["message"]


def test_an_expression_gives_the_items_and_a_bad_one_is_invalid(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")

    def rule(job: SimJob) -> Outcome | None:
        if job.node == "split":
            return Outcome(message='{"chunks": [1, 2, 3]}')
        return echo_item(job)

    sim.rule = rule
    nodes = [
        {"name": "split", "component": "proc"},
        {
            "name": "map",
            "component": "proc",
            "dependsOn": ["split"],
            "forEach": {"expression": "upstream.split.result.chunks.map(c, c * input.size)"},
        },
        {"name": "merge", "component": "proc", "dependsOn": ["map"]},
    ]
    kube.create("Workflow", "expr", {"input": {"data": "hello"}, "nodes": nodes})
    status = kube.wait_phase("expr", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["nodes"]["map"]["progress"] == "3/3"
    shards = naming.output_shards(3 + 2 * MAX_FOREACH_ITEMS)
    results = json.loads(kube.configmap(naming.output_configmap("expr", "map", shards))["map"])
    assert results == [{"item": 5 * i, "index": i - 1} for i in (1, 2, 3)]
    nodes[1]["forEach"] = {"expression": "upstream.split.result.size() > 2"}
    kube.create("Workflow", "expr-bad", {"input": {"data": "hello"}, "nodes": nodes})
    status = kube.wait_phase("expr-bad", "Invalid")
    assert "forEach.expression: CEL check error: the expression yields a bool, not list" in status["message"]
