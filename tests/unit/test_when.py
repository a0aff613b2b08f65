"""`when` on a node (`logic.when`, its static checks in `logic.celcheck`, and the engine's WhenFalse skip)."""

from __future__ import annotations

import pytest
from tests.unit.test_scheduler import COMPONENTS, T0, launched, make_run, ok

from switchyard.logic.celcheck import check_static
from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.scheduler import BreakerBook, WorkflowRun
from switchyard.logic.when import When, WhenOutcome, check_when, check_whens, result_value, variables
from switchyard.models.workflow import NodeSpec, NodeStatus

DEPS = ("load", "split-data")


@pytest.mark.parametrize(
    "when",
    [
        "upstream.load.result.count > 3",
        'upstream["split-data"].phase == "Succeeded"',
        "upstream.load.result.items.exists(i, i > 2) && input.size < 10",
        'has(params.mode) && params.mode == "full"',
        "input.isJson",
    ],
)
def test_conditions_that_can_work_pass(when: str) -> None:
    assert check_when(when, DEPS) is None


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("upstream.lod.result", "upstream.lod is not a dependency of this node (did you mean upstream.load?)"),
        ("upstream.other.phase == 'x'", "upstream.other is not a dependency of this node (dependsOn: load, split-"),
        ("upstream.load.reslt == 1", "unknown field reslt of an upstream node (did you mean result?)"),
        ("upstream.load.phase", "the expression yields a string, not bool"),
        ("inputs.size > 1", "unknown variable inputs (did you mean input?): the variables are input, upstream, params"),
        ("input.sizee > 1", "unknown field input.sizee (did you mean input.size?)"),
    ],
)
def test_conditions_that_can_never_work_are_refused_with_the_reason(when: str, message: str) -> None:
    problem = check_when(when, DEPS)
    assert problem is not None and problem.startswith("CEL check error: " + message), problem


def test_syntax_errors_and_length() -> None:
    assert (check_when("upstream.load.result >", DEPS) or "").startswith("CEL compile error")
    assert "at most 1024" in (check_when("true || " * 200 + "true", DEPS) or "")


def test_routing_rules_see_input_and_params_but_no_upstream() -> None:
    assert check_static("upstream.load.phase == 'x'") == (
        "unknown variable upstream: the variables are input, params, components"
    )
    assert check_static("params.tier == 'gold' && input.size > 3") is None
    assert check_static("params.tier + 1 > 3") is None  # a parameter's value is a string, but params is a map


def test_a_bad_when_makes_the_workflow_invalid_naming_the_node() -> None:
    dag = Dag.build(
        [NodeSpec(name="a", component="c"), NodeSpec(name="b", component="c", depends_on=["a"], when="upstream.x")]
    )
    with pytest.raises(InvalidSpec) as raised:
        check_whens(dag)
    assert raised.value.reason == "InvalidWhen"
    assert raised.value.message.startswith("node 'b': when: CEL check error: upstream.x is not a dependency")


def test_results_are_parsed_json_or_the_text() -> None:
    assert result_value('{"n": 3}') == {"n": 3}
    assert result_value("plain words") == "plain words"
    assert result_value(None) is None
    got = variables({"size": 3}, {"a": ("Succeeded", "[1,2]"), "b": ("Skipped", None)}, {})
    assert got == {
        "input": {"size": 3},
        "upstream": {"a": {"phase": "Succeeded", "result": [1, 2]}, "b": {"phase": "Skipped", "result": None}},
        "params": {},
    }


GATED = [
    NodeSpec(name="a", component="c"),
    NodeSpec(name="b", component="c", depends_on=["a"], when="upstream.a.result.go"),
    NodeSpec(name="c", component="c", depends_on=["b"]),
]


def test_false_skips_the_node_and_its_dependents_still_run() -> None:
    run, book = make_run(GATED, features=[When()]), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    plan = run.step({"a": ok(run, "a", '{"go": false}')}, COMPONENTS, book, T0)
    assert plan.launches == [] and plan.wanted == {"when": {"b"}}  # asks its observe half first
    plan = run.step({}, COMPONENTS, book, T0, facts={"when": {"b": WhenOutcome(False)}})
    b = run.nodes["b"]
    assert (b.phase, b.reason, b.message) == ("Skipped", "WhenFalse", "when is false: upstream.a.result.go")
    assert ("Normal", "WhenFalse", "node b: when is false: upstream.a.result.go") in plan.events
    assert launched(plan) == ["c"]
    run.step({"c": ok(run, "c")}, COMPONENTS, book, T0)
    assert run.finished and run.succeeded and run.progress == "3/3"


def test_true_runs_the_node() -> None:
    run, book = make_run(GATED, features=[When()]), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": ok(run, "a")}, COMPONENTS, book, T0)
    plan = run.step({}, COMPONENTS, book, T0, facts={"when": {"b": WhenOutcome(True)}})
    assert launched(plan) == ["b"]


def test_an_evaluation_error_is_false_with_the_message() -> None:
    run, book = make_run(GATED, features=[When()]), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": ok(run, "a")}, COMPONENTS, book, T0)
    plan = run.step({}, COMPONENTS, book, T0, facts={"when": {"b": WhenOutcome(False, "no such key: 'go'")}})
    assert run.nodes["b"].message == "when could not be evaluated, taken as false: no such key: 'go'"
    assert plan.events[0][:2] == ("Warning", "WhenFalse") and launched(plan) == ["c"]


def test_after_a_restart_a_when_skipped_dependency_counts_as_done() -> None:
    statuses = {
        "a": NodeStatus(phase="Succeeded", finished_at=T0),
        "b": NodeStatus(phase="Skipped", reason="WhenFalse", finished_at=T0),
    }
    run = WorkflowRun(
        "wf", Dag.build(GATED), statuses, parallelism=5, failure_policy="FailFast", started_at=T0, features=[When()]
    )
    assert launched(run.step({}, COMPONENTS, BreakerBook(), T0)) == ["c"]


def test_a_skip_after_a_failure_still_skips_dependents() -> None:
    statuses = {"a": NodeStatus(phase="Failed", reason="Error", finished_at=T0)}
    run = WorkflowRun("wf", Dag.build(GATED), statuses, parallelism=5, failure_policy="Continue", started_at=T0)
    run.step({}, COMPONENTS, BreakerBook(), T0)
    assert run.nodes["c"].reason == "DependencySkipped" and not run.succeeded
