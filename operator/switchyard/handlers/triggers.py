"""Thin kopf wiring of Triggers: Trigger and Workflow watch events into the engine (built at startup), which
runs on an event loop of its own (`triggerloop.py`): each watch event goes there as a plain copy of what the
engine reads, never as kopf's own body."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.k8s.triggers import TriggerEngine
from switchyard.k8s.triggers.state import TriggerEntry
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.labels import LABEL_TRIGGER

WORKFLOW_META = ("name", "namespace", "labels", "annotations", "ownerReferences", "creationTimestamp")
WORKFLOW_STATUS = ("phase", "finishedAt")


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, "triggers", registry=registry)(trigger_changed)
    workflows = {LABEL_TRIGGER: kopf.PRESENT}
    kopf.on.event(GROUP, VERSION, "workflows", labels=workflows, registry=registry)(trigger_workflow_changed)


async def _forget(engine: TriggerEngine, namespace: str, name: str) -> None:
    engine.forget(namespace, name)


async def _observe(engine: TriggerEngine, body: Mapping[str, Any]) -> tuple[TriggerEntry, str | None]:
    entry = engine.observe(body)
    problem = await engine.reconcile(entry)
    engine.wake.set()
    return entry, problem


async def _observe_workflow(engine: TriggerEngine, body: Mapping[str, Any], deleted: bool) -> None:
    await engine.observe_workflow(body, deleted)


async def trigger_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    triggers = services(memo).triggers
    if type == "DELETED":
        await triggers.run(_forget, body.metadata.namespace or "", body.metadata.name or "")
        return
    entry, problem = await triggers.run(_observe, copy.deepcopy(dict(body)))
    if problem is not None:
        emit(body, "Warning", entry.error_reason, problem)


def workflow_facts(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the engine reads of one of a Trigger's Workflows (its owner, counted mark, phase), copied."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    return {
        "metadata": {key: copy.deepcopy(meta[key]) for key in WORKFLOW_META if key in meta},
        "status": {key: status[key] for key in WORKFLOW_STATUS if key in status},
    }


async def trigger_workflow_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    await services(memo).triggers.run(_observe_workflow, workflow_facts(body), type == "DELETED")
