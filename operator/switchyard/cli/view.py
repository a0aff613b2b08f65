"""A Workflow object as the CLI shows it: its nodes in DAG order with their status, read through the models.

Pure (no cluster access): `get`, `graph` and the tests build views from plain dicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.foreach import parse_instance
from switchyard.logic.nodestate import implied_attempts
from switchyard.logic.routing import path_to_nodes
from switchyard.models.workflow import ForEach, NodeSpec, NodeStatus, WorkflowStatus

FINISHED_NODE_PHASES = frozenset({"Succeeded", "Failed", "Skipped", "FellBack"})
FINISHED_WORKFLOW_PHASES = frozenset({"Succeeded", "Failed", "Invalid"})

# Phase symbols as `argo get` draws them, plus Switchyard's own phases.
SYMBOLS = {
    "Pending": "◷",
    "Running": "●",
    "Retrying": "↻",
    "Succeeded": "✔",
    "Failed": "✖",
    "Skipped": "○",
    "FellBack": "⤷",
    "Invalid": "⚠",
}

# Fill colours by phase for `graph` (and the tree's styles).
COLOURS = {
    "Pending": "#e0e0e0",
    "Running": "#9ecbff",
    "Retrying": "#ffd27f",
    "Succeeded": "#a6e3a1",
    "Failed": "#f28b82",
    "Skipped": "#f5f5f5",
    "FellBack": "#ffe08a",
    "Invalid": "#f28b82",
}


# The keys every built-in processor's result starts with (processors/registry.py): the node's status says them.
IDENTITY_KEYS = frozenset({"processor", "node", "workflow", "attempt"})
# The same keys at the head of a preview cut mid-document (so not JSON any more): `{"processor":"x","node":"y",`
_IDENTITY_HEAD = re.compile(r'^\{(?:"(?:processor|node|workflow|attempt)":(?:"[^"\\]*"|-?\d+|null),?)+')


@dataclass(frozen=True)
class NodeView:
    name: str
    component: str
    depends_on: tuple[str, ...]
    status: NodeStatus
    result: str | None = None  # the whole output (from the outputs ConfigMap), when the caller read it
    when: str | None = None  # its `when` condition
    exit: bool = False  # an exit node (`spec.onExit`)
    for_each: ForEach | None = None  # its fan-out (`forEach`), for a node that has one


@dataclass(frozen=True)
class WorkflowView:
    name: str
    namespace: str
    status: WorkflowStatus
    nodes: tuple[NodeView, ...]
    breakers: Mapping[str, str] = field(default_factory=dict)  # component -> breaker state

    @property
    def phase(self) -> str:
        return self.status.phase


def spec_nodes(spec: Mapping[str, Any]) -> list[NodeSpec]:
    """The nodes of a Workflow (or RoutingRule) spec: `nodes`, else a chain for `path`."""
    if spec.get("nodes"):
        return [NodeSpec.model_validate(node) for node in spec["nodes"]]
    if spec.get("path"):
        return path_to_nodes([str(component) for component in spec["path"]])
    return []


def ordered(nodes: Sequence[NodeSpec]) -> list[NodeSpec]:
    """Nodes in the DAG's stable topological order; spec order when the DAG is invalid."""
    try:
        dag = Dag.build(nodes)
    except InvalidSpec:
        return list(nodes)
    by_name = {node.name: node for node in nodes}
    return [by_name[name] for name in dag.order]


def build(
    obj: Mapping[str, Any],
    breakers: Mapping[str, str] | None = None,
    results: Mapping[str, str] | None = None,
    expand: bool = False,
) -> WorkflowView:
    """The view of a Workflow object (as the API returns it); `results` are whole node outputs by node.
    A forEach node's instances (`NODE[i]`) are collapsed into it (`NODE [17/20]`) unless `expand`: then each
    is a line under its node."""
    metadata = obj.get("metadata") or {}
    try:
        status = WorkflowStatus.model_validate(obj.get("status") or {})
    except ValidationError:  # a status from an unknown operator version: show what we can
        status = WorkflowStatus()
    specs = spec_nodes(obj.get("spec") or {})
    exits = [NodeSpec.model_validate(node) for node in (obj.get("spec") or {}).get("onExit") or []]
    exit_names = {node.name for node in exits}
    if not specs and status.route is not None:
        if status.route.nodes:
            specs = list(status.route.nodes)
        elif status.route.path:
            specs = path_to_nodes(status.route.path)
    results = results or {}
    views = [
        NodeView(
            spec.name,
            spec.component,
            tuple(spec.depends_on),
            status.nodes.get(spec.name) or NodeStatus(),
            results.get(spec.name),
            spec.when,
            spec.name in exit_names,
            spec.for_each,
        )
        for spec in [*ordered(specs), *ordered(exits)]
    ]
    known = {view.name: view for view in views}
    for name, node in status.nodes.items():
        if name in known:
            continue
        parsed = parse_instance(name)
        if parsed is not None and parsed[0] in known:  # a forEach instance
            if "attempts" not in node.model_fields_set:  # a compact status leaves the usual count out
                node = node.model_copy(update={"attempts": implied_attempts(node.phase, node.reason)})
            if expand:
                views.append(NodeView(name, known[parsed[0]].component, (parsed[0],), node, results.get(name)))
            continue
        views.append(NodeView(name, "", (), node, results.get(name)))
    return WorkflowView(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        status=status,
        nodes=tuple(views),
        breakers=dict(breakers or {}),
    )


def duration(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """`1h2m`, `3m4s`, `5s`; empty without a start."""
    if start is None:
        return ""
    seconds = max(0, int(((end or now) - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def result_text(text: str) -> str:
    """The meaningful part of a node's output or error: a processor's result without the identity keys
    (`processor`, `node`, `workflow`, `attempt`), the `error` of a failed one; other text as it is."""
    try:
        value = json.loads(text)
    except ValueError:  # not JSON, or a preview cut mid-document: drop an identity head if it has one
        head = _IDENTITY_HEAD.match(text)
        return "{" + text[head.end() :] if head else text
    if not isinstance(value, dict):
        return text
    if isinstance(value.get("error"), str):
        return str(value["error"])
    rest = {key: item for key, item in value.items() if key not in IDENTITY_KEYS}
    return json.dumps(rest, ensure_ascii=False) if len(rest) < len(value) else text
