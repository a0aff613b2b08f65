"""Component events: Ready (spec and fallback), breaker reset on a new spec, forgotten on delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s import breakers
from switchyard.k8s.components import reconcile_component, referrers
from switchyard.k8s.observe import component_entry


@kopf.on.event("switchyard.dev", "v1alpha1", "components")
async def component_changed(
    body: kopf.Body, type: str | None, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    if not hasattr(memo, "rt") or namespace is None:  # None: never for a namespaced kind
        return
    ensure_flusher(memo)
    now = datetime.now(UTC).replace(microsecond=0)
    if type == "DELETED":
        breakers.component_deleted(memo.rt, namespace, name)
    else:
        entry = component_entry(body)
        breakers.component_changed(memo.rt, entry, now)
        breakers.component_seen(memo.rt, entry, now)
        await reconcile_component(memo.rt, memo.views, entry, emit, now)
    for referrer in referrers(memo.views, namespace, name):  # their fallback appeared, changed or went away
        if referrer.ref.name != name:
            await reconcile_component(memo.rt, memo.views, referrer, emit, now)
