"""WorkflowTemplate events: check the spec and record its Ready condition (`switchyard.k8s.templates`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.k8s.templates import PLURAL, reconcile_template
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(template_changed)


async def template_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        return
    await reconcile_template(services(memo).rt.api, body, emit, datetime.now(UTC).replace(microsecond=0))
