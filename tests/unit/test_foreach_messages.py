"""What a forEach node and its Workflow say when `minSuccessRatio` < 1 held but some instances failed: never
"all N nodes succeeded"."""

from __future__ import annotations

import json

from tests.unit.test_foreach import COMPONENTS, run_of, spec
from tests.unit.test_scheduler import T0, comp, fail, ok

from switchyard.logic.dag import Dag
from switchyard.logic.exits import SUMMARY_KEY
from switchyard.logic.foreach import ForEachFeature
from switchyard.logic.scheduler import BreakerBook, WorkflowRun
from switchyard.models.workflow import ForEach, NodeSpec


def finish(run: WorkflowRun, failing: set[int], count: int) -> None:
    book = BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"split": ok(run, "split")}, COMPONENTS, book, T0)
    for i in range(count):
        name = f"map[{i}]"
        run.step({name: fail(run, name) if i in failing else ok(run, name)}, COMPONENTS, book, T0)


def test_a_held_ratio_with_failed_instances_says_so() -> None:
    run = run_of(spec({"items": list(range(20)), "minSuccessRatio": 0.9}))
    finish(run, {3, 7}, 20)
    assert run.nodes["map"].phase == "Succeeded"
    assert run.nodes["map"].message == "18/20 instances of map succeeded (minSuccessRatio 0.9)"
    assert run.shortfalls() == ["18/20 instances of map succeeded (minSuccessRatio 0.9)"]
    run.step({"merge": ok(run, "merge")}, COMPONENTS, BreakerBook(), T0)
    assert run.finished and run.succeeded


def test_all_instances_succeeding_or_the_ratio_failing() -> None:
    run = run_of(spec({"items": [1, 2], "minSuccessRatio": 0.5}))
    finish(run, set(), 2)
    assert run.nodes["map"].message == "all 2 instances succeeded" and run.shortfalls() == []
    run = run_of(spec({"items": [1, 2, 3, 4]}))
    finish(run, {0}, 4)
    assert run.nodes["map"].phase == "Failed"
    assert run.nodes["map"].message == "3/4 instances of map succeeded, below minSuccessRatio 1"
    assert run.shortfalls() == []


def test_the_exit_summary_of_a_held_ratio_is_succeeded_and_names_the_shortfall() -> None:
    nodes = [
        NodeSpec(name="split", component="c"),
        NodeSpec(
            name="map",
            component="c",
            depends_on=["split"],
            for_each=ForEach.model_validate({"items": [1, 2, 3, 4], "minSuccessRatio": 0.75}),
        ),
        NodeSpec(name="report", component="c"),
    ]
    run = WorkflowRun(
        "wf",
        Dag.build(nodes),
        {},
        parallelism=10,
        failure_policy="ContinueOnFailure",
        started_at=T0,
        features=[ForEachFeature()],
        exit_nodes=["report"],
    )
    components = {"c": comp(retry={"limit": 0})}
    book = BreakerBook()
    run.step({}, components, book, T0)
    run.step({"split": ok(run, "split")}, components, book, T0)
    plan = None
    for i in range(4):
        name = f"map[{i}]"
        plan = run.step({name: fail(run, name) if i == 2 else ok(run, name)}, components, book, T0)
    assert plan is not None
    doc = json.loads(plan.outputs[SUMMARY_KEY])
    assert doc["phase"] == "Succeeded"
    assert (
        doc["message"]
        == "3/4 instances of map succeeded (minSuccessRatio 0.75); 5 of 6 nodes (instances included) succeeded"
    )
    assert [n["name"] for n in doc["failedNodes"]] == ["map[2]"]  # still listed, for the exit node to report
