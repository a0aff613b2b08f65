"""RoutingRule events: compile the CEL expression and record validity in status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.k8s.components import reconcile_rule
from switchyard.k8s.entries import rule_entry
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, "routingrules", registry=registry)(rule_changed)


async def rule_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        return
    await reconcile_rule(services(memo).rt, rule_entry(body), emit, datetime.now(UTC).replace(microsecond=0))
