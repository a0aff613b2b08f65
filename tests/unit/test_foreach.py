"""`forEach` in the engine (`logic.foreach`, `logic.fanout`): expansion, maxParallel, summaries, fan-in, restart."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.test_scheduler import T0, comp, fail, launched, ok

from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.foreach import ForEachFeature, ItemsFact, check_for_each, item_key, output_key, parse_instance
from switchyard.logic.scheduler import BreakerBook, WorkflowRun
from switchyard.models.workflow import ForEach, NodeSpec, NodeStatus
from switchyard.sandbox import managedfields

COMPONENTS = {"c": comp(retry={"limit": 0})}


def spec(for_each: dict[str, Any], deps: tuple[str, ...] = ("split",)) -> list[NodeSpec]:
    return [
        NodeSpec(name="split", component="c"),
        NodeSpec(name="map", component="c", depends_on=list(deps), for_each=ForEach.model_validate(for_each)),
        NodeSpec(name="merge", component="c", depends_on=["map"]),
    ]


def run_of(nodes: list[NodeSpec], recorded: dict[str, NodeStatus] | None = None, **kw: Any) -> WorkflowRun:
    return WorkflowRun(
        "wf",
        Dag.build(nodes),
        recorded or {},
        parallelism=kw.pop("parallelism", 10),
        failure_policy=kw.pop("policy", "ContinueOnFailure"),
        started_at=T0,
        features=[ForEachFeature()],
        **kw,
    )


def test_inline_items_expand_into_instances_within_max_parallel_and_fan_in() -> None:
    run, book = run_of(spec({"items": [1, "two", {"x": 3}], "maxParallel": 2})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    assert launched(plan) == ["map[0]", "map[1]"]  # maxParallel 2
    assert plan.outputs[item_key("map", 0)] == "1" and json.loads(plan.outputs[item_key("map", 2)]) == {"x": 3}
    assert run.nodes["map"].phase == "Running" and run.nodes["map"].progress == "0/3"
    assert run.job_name("map[0]", 1) != run.job_name("map[1]", 1)
    plan = run.step({"map[0]": ok(run, "map[0]", '{"n": 0}')}, COMPONENTS, book, T0)
    assert launched(plan) == ["map[2]"] and plan.outputs[output_key("map[0]")] == '{"n": 0}'
    assert run.nodes["map"].progress == "1/3"
    run.step({"map[1]": ok(run, "map[1]", "plain")}, COMPONENTS, book, T0)
    plan = run.step({"map[2]": ok(run, "map[2]", "[2]")}, COMPONENTS, book, T0)
    assert run.nodes["map"].phase == "Succeeded" and run.nodes["map"].progress == "3/3"
    assert json.loads(plan.outputs["map"]) == [{"n": 0}, "plain", [2]]  # results.json, index order
    assert launched(plan) == ["merge"]
    assert run.progress == "5/6"  # instances count
    assert run.reads_of("merge") == ["map", "map.0", "map.1", "map.2"]
    assert run.fan_in_of("merge") == {"map": (0, 1, 2)}


def test_min_success_ratio_decides_the_node() -> None:
    for ratio, phase in ((0.5, "Succeeded"), (1.0, "Failed")):
        run, book = run_of(spec({"items": [0, 1], "minSuccessRatio": ratio})), BreakerBook()
        run.step({}, COMPONENTS, book, T0)
        run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
        run.step({"map[0]": fail(run, "map[0]")}, COMPONENTS, book, T0)
        assert run.failed_reason is None  # an instance's failure is its node's to judge
        plan = run.step({"map[1]": ok(run, "map[1]")}, COMPONENTS, book, T0)
        assert run.nodes["map"].phase == phase, ratio
        assert run.nodes["map"].progress == "1/2"
        if phase == "Succeeded":
            assert launched(plan) == ["merge"] and json.loads(plan.outputs["map"]) == [None, "out"]
        else:
            assert run.nodes["map"].reason == "MinSuccessRatio" and run.nodes["merge"].phase == "Skipped"
            assert run.failed_reason == "NodeFailed"
        assert run.finished or phase == "Succeeded"


def test_an_empty_list_succeeds_with_no_instances_and_dependents_run() -> None:
    run, book = run_of(spec({"items": []})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    assert run.nodes["map"].phase == "Succeeded" and run.nodes["map"].progress == "0/0"
    assert launched(plan) == ["merge"] and plan.outputs["map"] == "[]"


def test_from_node_defers_for_the_result_and_a_non_list_fails_the_node() -> None:
    run, book = run_of(spec({"fromNode": "split"})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"split": ok(run, "split", "[1, 2]")}, COMPONENTS, book, T0)
    assert plan.wanted == {"forEach": {"map"}} and plan.launches == []
    plan = run.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact((1, 2))}})
    assert launched(plan) == ["map[0]", "map[1]"]
    run2 = run_of(spec({"fromNode": "split"}))
    run2.step({}, COMPONENTS, book, T0)
    run2.step({"split": ok(run2, "split", "{}")}, COMPONENTS, book, T0)
    plan = run2.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact(None, "not a list")}})
    assert run2.nodes["map"].phase == "Failed" and run2.nodes["map"].message == "not a list"
    assert any(e[1] == "NodeFailed" for e in plan.events) and run2.nodes["merge"].phase == "Skipped"


def test_a_restart_keeps_recorded_instances_and_starts_no_duplicate() -> None:
    run, book = run_of(spec({"items": ["a", "b", "c"]})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    run.step({"map[0]": ok(run, "map[0]", "A")}, COMPONENTS, book, T0)
    recorded = {n: NodeStatus.model_validate(run.node_wire(n)) for n in run.nodes}
    jobs = {n: run.nodes[n].job for n in ("map[1]", "map[2]")}
    again = run_of(spec({"items": ["a", "b", "c"]}), recorded)
    plan = again.step({}, COMPONENTS, book, T0)
    assert plan.wanted == {"forEach": {"map"}}  # the outputs of succeeded instances are read first
    plan = again.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact(("a", "b", "c"), {}, {0: "A"})}})
    assert plan.launches == []  # map[1] and map[2] still run: observed, not started again
    assert plan.restored == {"map[1]", "map[2]"}  # no one's news yet: the runner's next pass looks at their Jobs
    assert again.running_jobs() == {n: (1, jobs[n]) for n in jobs}
    again.step({"map[1]": ok(again, "map[1]", "B")}, COMPONENTS, book, T0)
    plan = again.step({"map[2]": ok(again, "map[2]", "C")}, COMPONENTS, book, T0)
    assert json.loads(plan.outputs["map"]) == ["A", "B", "C"] and launched(plan) == ["merge"]
    recorded = {n: NodeStatus.model_validate(again.node_wire(n)) for n in again.nodes}
    third = run_of(spec({"items": ["a", "b", "c"]}), recorded)  # after the fan-out ended: its instances stay
    assert third.progress == "5/6" and third.fan_in_of("merge") == {"map": (0, 1, 2)}
    assert third.running_jobs() == {"merge": (1, again.nodes["merge"].job)}


def test_stop_ends_a_running_fan_out() -> None:
    run, book = run_of(spec({"items": [1, 2, 3], "maxParallel": 1})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    plan = run.stop(T0)
    assert run.nodes["map"].phase == "Failed" and run.nodes["map[2]"].phase == "Skipped"
    assert plan.delete_jobs == [run.nodes["map[0]"].job] and run.finished


def test_admission_checks() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ForEach.model_validate({"items": [1], "fromNode": "split"})
    with pytest.raises(ValidationError):
        ForEach.model_validate({"items": list(range(10_001))})
    with pytest.raises(ValidationError):
        ForEach.model_validate({"items": [1], "minSuccessRatio": 1.5})
    with pytest.raises(InvalidSpec, match="not one of its dependsOn"):
        check_for_each(Dag.build(spec({"fromNode": "merge"}, deps=("split",))[:2]), 10)
    with pytest.raises(InvalidSpec, match="maxParallel 20 is more than"):
        check_for_each(Dag.build(spec({"items": [1], "maxParallel": 20})), 10)
    check_for_each(Dag.build(spec({"fromNode": "split", "maxParallel": 10})), 10)


def test_instance_names() -> None:
    assert parse_instance("map[12]") == ("map", 12) and parse_instance("map") is None
    assert output_key("map[3]") == "map.3" and output_key("map") == "map"


def object_bytes(items: list[Any], stored: dict[str, dict[str, Any]]) -> int:
    """The Workflow as etcd stores it: spec items, `status.nodes` and the managedFields an API server records
    for that status (`sandbox.managedfields`, the emulator's model: one `f:` entry per stored field)."""
    status = {"status": {"nodes": stored}}
    fields = managedfields.encode(managedfields.fields_of(status, is_map=lambda path: path == ("f:status", "f:nodes")))
    whole = {"spec": {"items": items}, "metadata": {"managedFields": [{"fieldsV1": fields}]}, **status}
    return len(json.dumps(whole, separators=(",", ":")).encode())


def test_ten_thousand_instances_keep_the_object_under_one_mib_at_the_peak_and_the_end() -> None:
    """The compact status (`logic.compact`) bounds a 10,000-instance run: the results live in the outputs
    ConfigMaps, the status keeps what a restart needs (failures keep a short message, the first 100; an
    instance that succeeded at its first attempt keeps its phase alone). Measured with the managedFields the
    API server adds, at the peak (1,000 instances running, the rest done) and at the end."""
    items = [{"chunk": i} for i in range(10_000)]
    run, book = run_of(spec({"items": items, "minSuccessRatio": 0.5}), parallelism=1000), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    big = "x" * 4000
    stored: dict[str, dict[str, Any]] = {}
    peak = 0

    def write() -> int:  # a merge patch of every node: nulls remove
        for n in run.nodes:
            entry = {**stored.get(n, {}), **run.node_wire(n)}
            stored[n] = {k: v for k, v in entry.items() if v is not None}
        return object_bytes(items, stored)

    while plan.launches:
        peak = max(peak, write())
        results = {
            launch.node: fail(run, launch.node, message=big)
            if launch.node.endswith("7]")
            else ok(run, launch.node, big)
            for launch in plan.launches
        }
        plan = run.step(results, COMPONENTS, book, T0)
    assert run.nodes["map"].phase == "Succeeded" and run.nodes["map"].progress == "9000/10000"
    end = write()
    assert max(peak, end) < 1 << 20, (peak, end)
    assert stored["map[0]"] == {"phase": "Succeeded"}  # attempts 1 is implied


def test_an_instance_recorded_with_its_phase_alone_resumes_at_attempt_one() -> None:
    """A restart reads `{"phase": "Succeeded"}` as one attempt, so a rerun of it (its artifacts lost) is
    attempt 2, never a second Job of attempt 1's name."""
    recorded = {
        "map[0]": NodeStatus.model_validate({"phase": "Succeeded"}),
        "map[1]": NodeStatus.model_validate({"phase": "Succeeded", "attempts": 0, "reason": "Reused"}),
    }
    recorded["split"] = NodeStatus(phase="Succeeded", attempts=1)
    run, book = run_of(spec({"items": [1, 2]}), recorded=recorded), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact((1, 2), {}, {0: "A", 1: "B"})}})
    assert run.nodes["map[0]"].attempts == 1 and run.nodes["map[1]"].attempts == 0


def test_an_expression_is_checked_like_when_but_must_yield_a_list() -> None:
    check_for_each(Dag.build(spec({"expression": "upstream.split.result.chunks.map(c, c * 2)"})), 10)
    check_for_each(Dag.build(spec({"expression": "[1, 2, params.x]"})), 10)
    with pytest.raises(InvalidSpec, match="CEL compile error"):
        check_for_each(Dag.build(spec({"expression": "[1, 2"})), 10)
    with pytest.raises(InvalidSpec, match="not list"):
        check_for_each(Dag.build(spec({"expression": "1 + 2"})), 10)
    with pytest.raises(InvalidSpec, match=r"upstream\.merge is not a dependency"):
        check_for_each(Dag.build(spec({"expression": "upstream.merge.result"})), 10)
