"""`switchyard route` explanations (each rule's result, then the route) and what `stop`/`retry` send."""

from __future__ import annotations

import pathlib
import textwrap
from typing import Any

import pytest

from switchyard.cli import actions, explain
from switchyard.cli.main import main

REPO = pathlib.Path(__file__).resolve().parents[2]


def rule(name: str, when: str, priority: int = 0, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "RoutingRule",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"when": when, "priority": priority, "path": ["json-processor"], **spec},
    }


def outcomes(result: explain.Explanation) -> list[tuple[str, str, bool]]:
    return [(r.name, r.outcome, r.chosen) for r in result.results]


def run(data: str, rules: list[dict[str, Any]], **options: Any) -> explain.Explanation:
    compiled, invalid = explain.compile_rules(rules)
    assert not invalid
    return explain.explain(explain.RoutingInput(data=data, **options), compiled)


def test_each_rule_gets_its_own_result_in_priority_order() -> None:
    result = run(
        '{"n": 7}',
        [
            rule("small", "input.size < 100", priority=10),
            rule("never", "input.size > 100000", priority=50),
            rule("broken", "input.json.missing == 1", priority=90),
            rule("also-small", "input.size < 1000", priority=10),
        ],
        content_type="application/json",
    )
    assert outcomes(result) == [
        ("broken", "skipped", False),
        ("never", "false", False),
        ("also-small", "matched", True),  # same priority: by name
        ("small", "matched", False),  # matched too, but a rule before it won
    ]
    assert result.decision is not None and result.decision.rule == "also-small"


def test_the_chosen_rule_is_marked_and_its_reason_has_the_facts() -> None:
    result = run("x" * 6000, [rule("big", "input.size > 5000", priority=1), rule("any", "true")])
    assert outcomes(result) == [("big", "matched", True), ("any", "matched", False)]
    assert result.decision is not None
    assert result.decision.reason == "input.size > 5000 (size=6000)"
    skipped = run("1", [rule("bad", "input.json.kind == 'x'")]).results[0]
    assert skipped.outcome == "skipped" and skipped.detail.startswith("CEL evaluation error")


def test_selector_and_invalid_rules_and_analysis() -> None:
    result = run(
        "1 2 3",
        [
            rule("other", "true", labels={"team": "b"}),
            rule(
                "cycle",
                "true",
                path=None,
                nodes=[
                    {"name": "a", "component": "p", "dependsOn": ["a"]},
                ],
            ),
        ],
        selector={"team": "a"},
    )
    assert outcomes(result) == [("cycle", "not selected", False), ("other", "not selected", False)]
    assert result.decision is not None and result.decision.source == "Analysis"
    assert result.decision.path == ["numeric-processor", "data-validator"]
    invalid = run("1", [rule("cycle", "true", path=None, nodes=[{"name": "a", "component": "p", "dependsOn": ["a"]}])])
    assert outcomes(invalid) == [("cycle", "invalid", False)]
    assert invalid.results[0].detail == "invalid nodes: node 'a' depends on itself"


def test_no_route_without_analysis_is_an_error() -> None:
    result = run("hello", [rule("never", "false")], analysis=False)
    assert result.decision is None
    assert result.error == "no RoutingRule matched the input and analysis is disabled"


def test_route_command_on_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    examples = REPO / "manifests" / "examples"
    assert main(["route", str(examples / "workflow-routed.yaml"), "--rules", str(examples)]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert any(
        line.startswith("orders 100 ✔ matched (chosen) type(input.json) == map && has(input.json.kind)")
        for line in lines
    )
    assert any(line.startswith("large-json 50 ✖ false input.isJson && input.size > 5000") for line in lines)
    assert "Route: rule orders: json-processor -> numeric-processor -> data-validator" in lines


def test_route_command_on_a_data_file_exits_1_without_a_route(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("hello")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """\
            apiVersion: switchyard.dev/v1alpha1
            kind: RoutingRule
            metadata: {name: digits}
            spec: {when: input.hasDigits, path: [numeric-processor]}
            """
        )
    )
    assert main(["route", str(data), "--rules", str(rules)]) == 0
    assert "Route: analysis: data-validator" in capsys.readouterr().out
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "apiVersion: switchyard.dev/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
        "spec: {input: {data: hello}, routing: {analysis: false}}\n"
    )
    assert main(["route", str(workflow), "--rules", str(rules)]) == 1
    assert "no route: no RoutingRule matched the input and analysis is disabled" in capsys.readouterr().err


def test_stop_patch_sets_the_annotation() -> None:
    reason = actions.stop_reason("alice")
    assert reason == "stopped by alice via switchyard stop"
    assert actions.stop_patch(reason) == {"metadata": {"annotations": {"switchyard.dev/stop": reason}}}
    assert actions.stop_reason("alice", "bad input") == "bad input"


def test_retry_body_copies_the_spec_and_reuses_the_old_workflow() -> None:
    old = {
        "metadata": {
            "name": "diamond",
            "namespace": "ns",
            "labels": {"team": "a"},
            "annotations": {"switchyard.dev/stop": "stopped"},
            "uid": "u1",
            "resourceVersion": "7",
        },
        "spec": {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "p"}]},
        "status": {"phase": "Failed"},
    }
    body = actions.retry_body(old, taken={"diamond", "diamond-retry-1"})
    assert body == {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "diamond-retry-2", "namespace": "ns", "labels": {"team": "a"}},
        "spec": {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "p"}], "reuse": {"workflow": "diamond"}},
    }
    assert "reuse" not in old["spec"]  # the old object is not modified


def test_retry_names_fit_253_characters() -> None:
    long = "a" * 250
    name = actions.retry_name(long, taken=set())
    assert len(name) == 253 and name.endswith("-retry-1")
    assert actions.retry_name("x", taken={"x-retry-1", "x-retry-2"}) == "x-retry-3"
