"""The `dev.switchyard.workflow.finished` CloudEvent of a Workflow run, and the retry rules of its delivery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from switchyard.models.crd import API_VERSION
from switchyard.models.workflow import WorkflowStatus

EVENT_TYPE = "dev.switchyard.workflow.finished"
MAX_LISTED_NODES = 200  # failed nodes and node outputs carried in one event; the rest is in the Workflow
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
# Answers worth another try (as the CloudEvents HTTP webhook spec advises); any other non-2xx is final.
RETRYABLE = frozenset({408, 409, 425, 429})


def event_id(uid: str) -> str:
    """The event's id: the Workflow's uid, so every attempt of one run (and only that run) carries it."""
    return uid


def source(namespace: str, name: str) -> str:
    return f"/apis/{API_VERSION}/namespaces/{namespace}/workflows/{name}"


def event_data(meta: Mapping[str, Any], status: WorkflowStatus) -> dict[str, Any]:
    """What the event says: the run's outcome, its failed nodes and the outputs of the nodes that succeeded."""
    failed = [(name, node) for name, node in status.nodes.items() if node.phase == "Failed"]
    done = [(name, node) for name, node in status.nodes.items() if node.phase in ("Succeeded", "FellBack")]
    data: dict[str, Any] = {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta["uid"],
        "phase": status.phase,
        "message": status.message or "",
        "startedAt": status.started_at.isoformat() if status.started_at else None,
        "finishedAt": status.finished_at.isoformat() if status.finished_at else None,
        "failedNodes": [
            {"name": name, "reason": node.reason or "", "message": node.message or ""}
            for name, node in failed[:MAX_LISTED_NODES]
        ],
        "outputs": {
            name: {
                "phase": node.phase,
                "output": node.output,
                "artifacts": [a.to_wire() for a in node.artifacts or []],
            }
            for name, node in done[:MAX_LISTED_NODES]
        },
        "outputConfigMaps": list(status.outputs),
        "truncated": len(failed) > MAX_LISTED_NODES or len(done) > MAX_LISTED_NODES,
    }
    if status.template is not None:
        data["template"] = {"name": status.template.name, "parameters": dict(status.template.parameters)}
    return data


def finished_event(meta: Mapping[str, Any], status: WorkflowStatus) -> HTTPMessage:
    """The event in structured mode (`application/cloudevents+json`): headers and body of the POST."""
    attributes: dict[str, Any] = {
        "id": event_id(meta["uid"]),
        "source": source(meta["namespace"], meta["name"]),
        "type": EVENT_TYPE,
        "subject": meta["name"],
        "datacontenttype": "application/json",
    }
    if status.finished_at is not None:
        attributes["time"] = status.finished_at
    return to_structured_event(CloudEvent(attributes, event_data(meta, status)))


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 1, 2, 4 ... up to a minute."""
    return min(MAX_DELAY, FIRST_DELAY * 2.0 ** max(0, attempts - 1))


def retryable(status: int | None) -> bool:
    """A connection failure or timeout (None), a 5xx, or one of RETRYABLE is tried again; other answers are final."""
    return status is None or status >= 500 or status in RETRYABLE
