"""What the page shows, from API objects (pure: no cluster access): list rows, a Workflow's DAG with each node's
state, and the routing explanation of pasted data, through the models and the CLI's pure views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from switchyard.cli import explain as explaining
from switchyard.cli import view
from switchyard.logic.analysis import analyse_input


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "labels": metadata.get("labels") or {},
        "created": metadata.get("creationTimestamp"),
        "resourceVersion": metadata.get("resourceVersion"),
    }


def workflow_row(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the Workflow list: phase, progress, route, times (the page renders age and duration)."""
    status = obj.get("status") or {}
    route = status.get("route") or {}
    nodes = status.get("nodes") or {}
    spec = obj.get("spec") or {}
    total = len(spec.get("nodes") or spec.get("path") or []) or len(nodes)
    return {
        **_meta(obj),
        "kind": "Workflow",
        "phase": status.get("phase") or "Pending",
        "progress": status.get("progress") or (f"0/{total}" if total else ""),
        "route": route.get("summary") or "",
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "message": status.get("message") or "",
    }


def workflow_detail(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Workflow page: the nodes in DAG order with their dependencies and state, route, conditions."""
    raw_nodes = (obj.get("status") or {}).get("nodes") or {}
    current = view.build(obj)
    status = current.status
    route = status.route
    nodes = []
    for node in current.nodes:
        state = node.status
        raw = raw_nodes.get(node.name) or {}
        shown = {
            "name": node.name,
            "component": node.component,
            "dependsOn": list(node.depends_on),
            "phase": state.phase,
            "attempts": state.attempts,
            "job": state.job,
            "reason": state.reason,
            "message": state.message,
            "output": state.output,
            "fallback": state.fallback,
            "startedAt": _time(state.started_at),
            "finishedAt": _time(state.finished_at),
            "nextRetryAt": _time(state.next_retry_at),
            # object-store artifacts (a newer operator's field, read raw so older statuses still show)
            "artifacts": raw.get("artifacts") or [],
            "artifactManifest": raw.get("artifactManifest"),  # a compact status: the list is in the store
        }
        # unset fields left out: a 5,000-node page's first message is a third smaller
        nodes.append({key: value for key, value in shown.items() if value is not None and value != []})
    return {
        **workflow_row(obj),
        "nodes": nodes,
        "route": None
        if route is None
        else {"source": route.source, "rule": route.rule, "path": route.path, "reason": route.reason},
        "routeSummary": route.summary if route else "",
        "conditions": [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions],
        "outputs": status.outputs,
    }


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def resource_row(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Component, RoutingRule or Trigger: its metadata, spec and status as the API has them."""
    return {**_meta(obj), "kind": obj.get("kind", ""), "spec": obj.get("spec") or {}, "status": obj.get("status") or {}}


def try_route(rules: Sequence[Mapping[str, Any]], data: str, content_type: str) -> dict[str, Any]:
    """What `switchyard route` says for pasted data: each rule's result, then the chosen path or why none."""
    compiled, invalid = explaining.compile_rules(list(rules))
    routing_input = explaining.RoutingInput(data=data, content_type=content_type or "text/plain")
    explanation = explaining.explain(routing_input, compiled)
    facts = analyse_input(routing_input.data, routing_input.content_type, routing_input.labels)
    decision = explanation.decision
    return {
        "input": {
            "size": facts.size,
            "contentType": facts.content_type,
            "isJson": facts.is_json,
            "hasDigits": facts.has_digits,
        },
        "results": [
            {"name": r.name, "priority": r.priority, "outcome": r.outcome, "detail": r.detail, "chosen": r.chosen}
            for r in [*explanation.results, *invalid]
        ],
        "decision": None
        if decision is None
        else {
            "source": decision.source,
            "rule": decision.rule,
            "path": list(decision.path),
            "reason": decision.reason,
        },
        "error": explanation.error,
    }
