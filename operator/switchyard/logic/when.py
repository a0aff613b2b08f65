"""`when` on a node: a CEL condition over `input`, `upstream.NODE.result`/`.phase` and `params` (pure).

Checked before the run starts (`check_whens`: compiles, and `logic.celcheck` with the node's dependencies as
the only `upstream` keys; a fault is the Workflow's `Invalid`). At run time it is a node feature
(`logic.features`): when the node is ready it defers for its outcome, which the runner's observe half
(`k8s.whenfacts`) evaluates in the CEL worker pool; false (or an evaluation error, with its message) settles the
node `Skipped` with reason `WhenFalse`, which counts as done for its dependents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel

from switchyard.logic.celcheck import check_static
from switchyard.logic.dag import Dag, DagNode
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.features import WHEN_FALSE, Defer, RunView, Settle
from switchyard.logic.steps import preview
from switchyard.models.workflow import MAX_NODE_WHEN

NAME = "when"


@dataclass(frozen=True)
class WhenOutcome:
    """What the expression gave for one node: its value, or why it could not be evaluated."""

    value: bool
    error: str | None = None


def check_when(when: str, deps: tuple[str, ...]) -> str | None:
    """None when `when` compiles and passes the static checks for a node with these dependencies."""
    if len(when) > MAX_NODE_WHEN:
        return f"CEL expression is {len(when)} characters long; at most {MAX_NODE_WHEN} are allowed"
    try:
        cel.compile(when)
    except Exception as error:  # the library raises ValueError; any failure means the expression is invalid
        return f"CEL compile error: {error}"
    problem = check_static(when, frozenset(deps))
    return None if problem is None else f"CEL check error: {problem}"


def check_whens(dag: Dag) -> None:
    """Raise InvalidSpec("InvalidWhen") for the first node (in DAG order) whose `when` cannot work."""
    for name in dag.order:
        node = dag.nodes[name]
        if node.when is not None and (problem := check_when(node.when, dag.deps[name])) is not None:
            raise InvalidSpec("InvalidWhen", f"node {name!r}: when: {problem}")


def result_value(output: str | None) -> Any:
    """`upstream.NODE.result`: the node's output parsed as JSON, else the output as a string (null: none)."""
    if output is None:
        return None
    try:
        return json.loads(output)
    except ValueError:
        return output


def variables(
    input_: Mapping[str, Any],
    upstream: Mapping[str, tuple[str, str | None]],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The CEL variables of a node's `when`: `upstream` maps each dependency to (phase, full output)."""
    return {
        "input": dict(input_),
        "upstream": {
            dep: {"phase": phase, "result": result_value(output)} for dep, (phase, output) in upstream.items()
        },
        "params": dict(params),
    }


class When:
    """The decide half of `when` (a `logic.features.NodeFeature`)."""

    name = NAME

    def applies(self, node: DagNode) -> bool:
        return node.when is not None

    def decide(self, node: str, run: RunView, facts: Mapping[str, object], now: datetime) -> Settle | Defer | None:
        if node not in facts:
            return Defer()
        outcome = facts[node]
        if not isinstance(outcome, WhenOutcome):  # no observe half answered: never run blind
            return Settle("Skipped", WHEN_FALSE, "when could not be evaluated", event="Warning")
        if outcome.error is not None:
            message = f"when could not be evaluated, taken as false: {preview(outcome.error, 300)}"
            return Settle("Skipped", WHEN_FALSE, message, event="Warning")
        if outcome.value:
            return None
        when = run.spec_of(node).when or ""
        return Settle("Skipped", WHEN_FALSE, f"when is false: {preview(when, 200)}", event="Normal")


__all__ = ["NAME", "When", "WhenOutcome", "check_when", "check_whens", "result_value", "variables"]
