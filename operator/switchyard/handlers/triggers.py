"""Thin kopf wiring of Triggers: Trigger and Workflow watch events into the engine (built at startup)."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.labels import LABEL_TRIGGER


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, "triggers", registry=registry)(trigger_changed)
    workflows = {LABEL_TRIGGER: kopf.PRESENT}
    kopf.on.event(GROUP, VERSION, "workflows", labels=workflows, registry=registry)(trigger_workflow_changed)


async def trigger_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    engine = services(memo).triggers
    if type == "DELETED":
        engine.forget(body.metadata.namespace or "", body.metadata.name or "")
        return
    entry = engine.observe(body)
    problem = await engine.reconcile(entry)
    if problem is not None:
        emit(body, "Warning", entry.error_reason, problem)
    engine.wake.set()


async def trigger_workflow_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    await services(memo).triggers.observe_workflow(body, deleted=type == "DELETED")
