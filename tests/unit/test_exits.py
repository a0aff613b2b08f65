"""`spec.onExit` in the engine (`logic.exits`): exit nodes run once the DAG ended, whatever its outcome."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from tests.unit.test_scheduler import T0, comp, fail, launched, ok

from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.exits import SUMMARY_KEY, check_exit_nodes
from switchyard.logic.scheduler import BreakerBook, WorkflowRun
from switchyard.models.workflow import NodeSpec, NodeStatus

MAIN = [NodeSpec(name="a", component="c"), NodeSpec(name="b", component="c", depends_on=["a"])]
COMPONENTS = {"c": comp(retry={"limit": 0})}
EXITS = [NodeSpec(name="notify", component="c"), NodeSpec(name="cleanup", component="c", depends_on=["notify"])]


def exit_run(policy: str = "FailFast", statuses: dict[str, NodeStatus] | None = None, **kw: object) -> WorkflowRun:
    return WorkflowRun(
        "wf",
        Dag.build([*MAIN, *EXITS]),
        statuses or {},
        parallelism=10,
        failure_policy=policy,  # type: ignore[arg-type]
        started_at=T0,
        exit_nodes=["notify", "cleanup"],
        **kw,  # type: ignore[arg-type]
    )


def test_exit_nodes_wait_for_the_dag_then_run_in_their_own_order_with_the_summary() -> None:
    run, book = exit_run(), BreakerBook()
    assert launched(run.step({}, COMPONENTS, book, T0)) == ["a"]  # notify is a root, but held back
    assert launched(run.step({"a": ok(run, "a")}, COMPONENTS, book, T0)) == ["b"]
    plan = run.step({"b": ok(run, "b")}, COMPONENTS, book, T0)
    assert launched(plan) == ["notify"] and not run.finished
    assert json.loads(plan.outputs[SUMMARY_KEY]) == {
        "phase": "Succeeded",
        "message": "all 2 nodes succeeded",
        "failedCount": 0,
        "failedNodes": [],
    }
    assert launched(run.step({"notify": ok(run, "notify")}, COMPONENTS, book, T0)) == ["cleanup"]
    run.step({"cleanup": ok(run, "cleanup")}, COMPONENTS, book, T0)
    assert run.finished and run.succeeded


def test_they_run_after_a_failure_and_an_exit_failure_fails_the_run() -> None:
    run, book = exit_run(), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"a": fail(run, "a", message="bad input")}, COMPONENTS, book, T0)
    assert run.nodes["b"].phase == "Skipped" and launched(plan) == ["notify"]  # FailFast skips the DAG only
    summary = json.loads(plan.outputs[SUMMARY_KEY])
    assert summary["phase"] == "Failed" and summary["message"] == "1 node(s) failed: a"
    assert summary["failedNodes"] == [{"name": "a", "reason": "BackoffLimitExceeded", "message": "bad input"}]
    plan = run.step({"notify": fail(run, "notify")}, COMPONENTS, book, T0)
    assert run.nodes["cleanup"].phase == "Skipped" and run.finished and not run.succeeded


def test_a_successful_dag_with_a_failed_exit_node_fails() -> None:
    run, book = exit_run(), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": ok(run, "a")}, COMPONENTS, book, T0)
    run.step({"b": ok(run, "b")}, COMPONENTS, book, T0)
    run.step({"notify": fail(run, "notify")}, COMPONENTS, book, T0)
    assert run.finished and not run.succeeded and run.nodes["cleanup"].reason == "DependencyFailed"


def test_a_stop_halts_the_dag_and_runs_them_a_second_stop_skips_them() -> None:
    run, book = exit_run(), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({}, COMPONENTS, book, T0, stop=True)
    assert run.nodes["a"].reason == "Stopped" and plan.delete_jobs == [run.nodes["a"].job]
    assert launched(plan) == ["notify"]
    assert json.loads(plan.outputs[SUMMARY_KEY])["message"] == "the workflow was stopped"
    assert launched(run.step({}, COMPONENTS, book, T0, stop=True)) == []  # the same stop again: no change
    job = run.nodes["notify"].job
    plan = run.step({}, COMPONENTS, book, T0, stop=True, skip_exits=True)
    assert plan.delete_jobs == [job] and run.nodes["notify"].phase == "Failed"
    assert run.nodes["cleanup"].phase == "Skipped" and run.finished


def test_after_the_deadline_they_still_run() -> None:
    run, book = exit_run(deadline_seconds=5), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({}, COMPONENTS, book, T0 + timedelta(seconds=6))
    assert run.nodes["a"].reason == "DeadlineExceeded" and launched(plan) == ["notify"]


def test_a_restart_after_the_dag_ended_goes_on_with_the_exit_nodes() -> None:
    done = NodeStatus(phase="Succeeded", finished_at=T0)
    run = exit_run(statuses={"a": done, "b": done})
    plan = run.step({}, COMPONENTS, BreakerBook(), T0)
    assert launched(plan) == ["notify"] and SUMMARY_KEY in plan.outputs  # written again: no exit Job yet
    started = exit_run(statuses={"a": done, "b": done, "notify": NodeStatus(phase="Running", attempts=1)})
    plan = started.step({}, COMPONENTS, BreakerBook(), T0)
    assert plan.launches == [] and SUMMARY_KEY not in plan.outputs


def test_exit_nodes_depend_on_exit_nodes_only() -> None:
    with pytest.raises(InvalidSpec, match="exit node 'notify' depends on 'b', a DAG node"):
        check_exit_nodes(MAIN, [NodeSpec(name="notify", component="c", depends_on=["b"])])
    with pytest.raises(InvalidSpec, match="node 'b' depends on 'notify', an exit node"):
        check_exit_nodes([*MAIN[:1], NodeSpec(name="b", component="c", depends_on=["notify"])], EXITS)
