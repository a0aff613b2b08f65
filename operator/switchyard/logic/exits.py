"""`spec.onExit`: exit handlers, run once the DAG has ended whatever its outcome (pure).

The exit nodes share the run's DAG (`Dag.build` of nodes + onExit) but are held back until every other node
is finished (`logic.runstate.RunState.main_finished`); then the engine releases them and writes
`workflow.json` (`summary`) to the outputs ConfigMaps, which each exit node's Pod sees at
`/switchyard/workflow.json`. A stop halts the DAG and lets them run; a second stop skips them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence

from switchyard.logic.errors import InvalidSpec
from switchyard.logic.features import satisfies_dependents
from switchyard.logic.nodestate import NodeState
from switchyard.models.workflow import NodeSpec

SUMMARY_KEY = "workflow.json"  # its key in the outputs ConfigMaps (node names are DNS labels: never a dot)
SUMMARY_NODES = 100  # failed nodes listed by name in workflow.json (the count is always whole)


def check_exit_nodes(nodes: Sequence[NodeSpec], exits: Sequence[NodeSpec]) -> None:
    """Exit nodes depend on exit nodes only, and DAG nodes never on exit nodes (InvalidSpec otherwise)."""
    exit_names = {node.name for node in exits}
    main_names = {node.name for node in nodes}
    for node in exits:
        for dep in node.depends_on:
            if dep in main_names:
                raise InvalidSpec(
                    "InvalidOnExit",
                    f"exit node {node.name!r} depends on {dep!r}, a DAG node: exit nodes run after the whole DAG "
                    "and depend on other exit nodes only",
                )
    for node in nodes:
        for dep in node.depends_on:
            if dep in exit_names:
                raise InvalidSpec(
                    "InvalidOnExit", f"node {node.name!r} depends on {dep!r}, an exit node (onExit runs last)"
                )


def dag_outcome(
    nodes: Mapping[str, NodeState],
    failed_reason: str | None,
    satisfied: int,
    instances: Collection[str] = (),
    shortfalls: Sequence[str] = (),
) -> tuple[str, str]:
    """(phase, message) of the ended DAG, as the Workflow's status would say without exit nodes. `instances`:
    the forEach instances among `nodes` (a failed one is its node's to judge); `shortfalls`: the forEach nodes
    that succeeded without all their instances (`FanOuts.shortfalls`), said instead of "all N succeeded"."""
    failed = sorted(name for name, status in nodes.items() if status.phase == "Failed" and name not in instances)
    unsatisfied = sum(1 for name in instances if name in nodes and not satisfies_dependents(nodes[name]))
    if failed_reason is None and not failed and satisfied + unsatisfied == len(nodes):
        skipped = sum(1 for status in nodes.values() if status.phase == "Skipped")  # by their `when`
        if shortfalls:
            message = f"{'; '.join(shortfalls)}; {satisfied} of {len(nodes)} nodes (instances included) succeeded"
            return "Succeeded", message + (f", {skipped} skipped" if skipped else "")
        if skipped:
            return "Succeeded", f"all {len(nodes)} nodes done: {len(nodes) - skipped} succeeded, {skipped} skipped"
        return "Succeeded", f"all {len(nodes)} nodes succeeded"
    if failed_reason == "DeadlineExceeded":
        return "Failed", "the workflow's activeDeadlineSeconds passed"
    if failed_reason == "Stopped":
        return "Failed", "the workflow was stopped"
    shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    return "Failed", f"{len(failed)} node(s) failed: {shown}"


def summary(
    nodes: Mapping[str, NodeState],
    failed_reason: str | None,
    satisfied: int,
    instances: Collection[str] = (),
    shortfalls: Sequence[str] = (),
) -> str:
    """`workflow.json`: the DAG's phase and message, and its failed nodes with their reasons (a forEach
    instance's failure too, even when its node succeeded under `minSuccessRatio`)."""
    phase, message = dag_outcome(nodes, failed_reason, satisfied, instances, shortfalls)
    failed = sorted(name for name, status in nodes.items() if status.phase == "Failed")  # instances too
    listed = [
        {"name": name, "reason": nodes[name].reason or "", "message": nodes[name].message or ""}
        for name in failed[:SUMMARY_NODES]
    ]
    doc = {"phase": phase, "message": message, "failedCount": len(failed), "failedNodes": listed}
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)


__all__ = ["SUMMARY_KEY", "check_exit_nodes", "dag_outcome", "summary"]
