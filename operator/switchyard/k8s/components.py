"""Component and RoutingRule status: breaker persistence, validity, counters.

Breaker state lives in memory for speed (`Runtime.books`) and is persisted to `Component.status` by one
flusher task: transitions right away, counters at most once per `FLUSH_SECONDS`, so thousands of node
results do not become thousands of patches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s.observe import ComponentEntry, RuleEntry
from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic.conditions import set_condition
from switchyard.models.crd import GROUP, VERSION

Emit = Any  # (body, type, reason, message) -> None
FLUSH_SECONDS = 1.0
log = logging.getLogger("switchyard.components")


async def patch_status(rt: Runtime, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    try:
        await rt.api.call(
            rt.api.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"status": dict(status)},
        )
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to record
            raise


async def flush_breakers(rt: Runtime, views: Views, emit: Emit) -> None:
    """Persist what changed in every namespace's breaker book; post Events for state transitions."""
    for namespace, book in list(rt.books.items()):
        transitions = book.take_transitions()
        for name in sorted(book.take_dirty()):
            state = book.state(name)
            metrics.BREAKER_STATE.labels(namespace, name).set(metrics.BREAKER_STATES[state.state])
            status = {
                "breaker": state.model_dump(mode="json", by_alias=True),
                "runs": book.runs.get(name, 0),
                "failures": book.failures.get(name, 0),
            }
            await patch_status(rt, "components", namespace, name, status)
        for name, change in transitions:
            entry = views.component(namespace, name)
            if entry is not None:
                opened = "-> Open" in change
                emit(entry.ref.body(), "Warning" if opened else "Normal", "CircuitBreaker", change)


async def breaker_flusher(rt: Runtime, views: Views, emit: Emit) -> None:
    while True:
        await rt.breaker_flush.wait()
        rt.breaker_flush.clear()
        try:
            await flush_breakers(rt, views, emit)
        except Exception:  # keep flushing later; the state is still in memory and marked dirty again below
            log.exception("persisting breaker state failed; will retry")
            for book in rt.books.values():
                book.dirty.update(book.states)
            rt.breaker_flush.set()
        await asyncio.sleep(FLUSH_SECONDS)


async def reconcile_component(rt: Runtime, entry: ComponentEntry, emit: Emit, now: datetime) -> None:
    """Ready condition from the spec's validity; a breaker status from the first sight on."""
    status = entry.status
    ready = entry.spec is not None
    reason = "Valid" if ready else "InvalidSpec"
    message = "component is valid" if ready else f"invalid spec: {entry.error}"
    conditions = set_condition(
        status.conditions, "Ready", "True" if ready else "False", reason, message, now, entry.generation
    )
    if conditions == status.conditions and status.observed_generation == entry.generation:
        return
    patch: dict[str, Any] = {
        "conditions": [c.to_wire() for c in conditions],
        "observedGeneration": entry.generation,
        "breaker": rt.book(entry.ref.namespace)
        .states.get(entry.ref.name, status.breaker)
        .model_dump(mode="json", by_alias=True),
    }
    await patch_status(rt, "components", entry.ref.namespace, entry.ref.name, patch)
    if not ready:
        emit(entry.ref.body(), "Warning", "InvalidSpec", message)


async def reconcile_rule(rt: Runtime, entry: RuleEntry, emit: Emit, now: datetime) -> None:
    """`status.valid`/`message` from compiling the CEL expression; a Warning Event when it does not compile."""
    valid = entry.error is None
    message = "" if valid else (entry.error or "")
    status = entry.status
    if status.valid == valid and (status.message or "") == message and status.observed_generation == entry.generation:
        return
    conditions = set_condition(
        status.conditions,
        "Ready",
        "True" if valid else "False",
        "Valid" if valid else "InvalidExpression",
        message or "the rule compiles",
        now,
        entry.generation,
    )
    patch = {
        "valid": valid,
        "message": message or None,
        "observedGeneration": entry.generation,
        "conditions": [c.to_wire() for c in conditions],
    }
    await patch_status(rt, "routingrules", entry.ref.namespace, entry.ref.name, patch)
    if not valid:
        emit(entry.ref.body(), "Warning", "InvalidExpression", message)
