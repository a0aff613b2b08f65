"""What the web UI shows, from API objects (`switchyard.ui.present`, pure): list rows, the DAG with node states,
and the routing of pasted data."""

from __future__ import annotations

from typing import Any

from switchyard.ui import present


def workflow(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "labels": {"team": "a"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "input": {"data": "x"},
            "nodes": [
                {"name": "b", "component": "p", "dependsOn": ["a"]},
                {"name": "a", "component": "p"},
            ],
        },
        "status": status,
    }


def test_a_row_before_any_status_counts_the_spec_nodes() -> None:
    row = present.workflow_row(workflow())
    assert row["phase"] == "Pending" and row["progress"] == "0/2"
    assert row["name"] == "w" and row["namespace"] == "ns" and row["labels"] == {"team": "a"}


ARTIFACT = {"name": "x", "key": "wf/uid/b/2/x", "size": 3, "digest": "sha256:" + "0" * 64}


def test_the_detail_lists_nodes_in_dag_order_with_their_state_and_leaves_unset_fields_out() -> None:
    detail = present.workflow_detail(
        workflow(
            phase="Running",
            progress="1/2",
            nodes={
                "a": {"phase": "Succeeded", "attempts": 1, "job": "w-a-1", "output": '{"v": 1}'},
                "b": {
                    "phase": "Retrying",
                    "attempts": 2,
                    "reason": "BackoffLimitExceeded",
                    "artifacts": [ARTIFACT],
                },
            },
            route={"source": "Explicit", "reason": "explicit nodes in spec", "summary": "explicit"},
            conditions=[
                {"type": "Valid", "status": "True", "reason": "Valid", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
        )
    )
    assert [n["name"] for n in detail["nodes"]] == ["a", "b"]
    a, b = detail["nodes"]
    assert a == {
        "name": "a",
        "component": "p",
        "phase": "Succeeded",
        "attempts": 1,
        "job": "w-a-1",
        "output": '{"v": 1}',
    }
    assert b["dependsOn"] == ["a"] and b["reason"] == "BackoffLimitExceeded" and b["artifacts"] == [ARTIFACT]
    assert detail["route"] == {"source": "Explicit", "rule": None, "path": [], "reason": "explicit nodes in spec"}
    assert detail["conditions"][0]["type"] == "Valid"


def test_an_unreadable_status_still_shows_the_nodes() -> None:
    detail = present.workflow_detail(workflow(phase="Exploded", nodes={"a": {"phase": 7}}))
    assert [n["phase"] for n in detail["nodes"]] == ["Pending", "Pending"]


def rule(name: str, priority: int, when: str, path: list[str]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"priority": priority, "when": when, "path": path}}


def test_try_route_says_what_switchyard_route_says() -> None:
    rules = [
        rule("orders", 100, 'input.json.kind == "order"', ["json-processor"]),
        rule("big", 50, "input.size > 5000", ["chunking-processor"]),
        {"metadata": {"name": "broken"}, "spec": {"priority": "high"}},
    ]
    answer = present.try_route(rules, '{"kind": "order"}', "application/json")
    assert answer["input"]["isJson"] is True
    outcomes = {r["name"]: (r["outcome"], r["chosen"]) for r in answer["results"]}
    assert outcomes == {"orders": ("matched", True), "big": ("false", False), "broken": ("invalid", False)}
    assert answer["decision"]["rule"] == "orders" and answer["decision"]["path"] == ["json-processor"]
    missing = present.try_route(rules, "plain words", "text/plain")
    assert {r["name"]: r["outcome"] for r in missing["results"]}["orders"] == "skipped"
    assert missing["decision"]["source"] == "Analysis"
