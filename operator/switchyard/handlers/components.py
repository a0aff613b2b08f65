"""Component events: Ready (spec and fallback), breaker and statistics reset on a new spec, forgotten on delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s import breakers, stats
from switchyard.k8s.components import reconcile_component, referrers
from switchyard.k8s.entries import component_entry
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, "components", registry=registry)(component_changed)


async def component_changed(
    body: kopf.Body, type: str | None, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    if namespace is None:  # never for a namespaced kind
        return
    ensure_flusher(memo)
    shared = services(memo)
    now = datetime.now(UTC).replace(microsecond=0)
    if type == "DELETED":
        breakers.component_deleted(shared.rt, namespace, name)
        stats.component_deleted(shared.rt, namespace, name)
    else:
        entry = component_entry(body)
        breakers.component_changed(shared.rt, entry, now)
        stats.component_changed(shared.rt, entry, emit)
        breakers.component_seen(shared.rt, entry, now)
        await reconcile_component(shared.rt, shared.views, entry, emit, now)
    for referrer in referrers(shared.views, namespace, name):  # their fallback appeared, changed or went away
        if referrer.ref.name != name:
            await reconcile_component(shared.rt, shared.views, referrer, emit, now)
