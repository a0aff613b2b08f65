"""Component events: validity condition and breaker status (see `switchyard.k8s.components`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s.components import reconcile_component
from switchyard.k8s.observe import component_entry
from switchyard.models.crd import GROUP, VERSION


@kopf.on.event(GROUP, VERSION, "components")
async def component_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED" or not hasattr(memo, "rt"):
        return
    ensure_flusher(memo)
    await reconcile_component(memo.rt, component_entry(body), emit, datetime.now(UTC).replace(microsecond=0))
