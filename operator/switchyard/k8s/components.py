"""Component and RoutingRule status: validity (Ready), including a Component's fallback; rule validity.

Breaker state is `switchyard.k8s.breakers`'s; this module only reports what a spec is worth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from switchyard.k8s import breakers, stats
from switchyard.k8s.entries import ComponentEntry, RuleEntry
from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic.conditions import set_condition
from switchyard.models.common import fit_text
from switchyard.models.routing import RoutingRuleStatus

Emit = Any  # (body, type, reason, message) -> None
log = logging.getLogger("switchyard.components")


def readiness(entry: ComponentEntry, lookup: Callable[[str], ComponentEntry | None]) -> tuple[bool, str, str]:
    """(ready, reason, message): the spec is valid and its fallback component, if any, is usable."""
    if entry.spec is None:
        return False, "InvalidSpec", f"invalid spec: {entry.error}"
    fallback = entry.spec.fallback.component if entry.spec.fallback else None
    if fallback is None:
        return True, "Valid", "component is valid"
    if fallback == entry.ref.name:
        return False, "FallbackInvalid", f"fallback component '{fallback}' is this component itself"
    target = lookup(fallback)
    if target is None:
        return False, "FallbackInvalid", f"fallback component '{fallback}' does not exist in this namespace"
    if target.spec is None:
        return False, "FallbackInvalid", f"fallback component '{fallback}' is invalid: {target.error}"
    return True, "Valid", f"component is valid; falls back to '{fallback}'"


def referrers(views: Views, namespace: str, name: str) -> Iterable[ComponentEntry]:
    """The components of `namespace` whose fallback is `name`."""
    for key in list(views.components):
        if key[0] != namespace:
            continue
        entry = views.component(*key)
        spec = entry.spec if entry is not None else None
        if entry is not None and spec is not None and spec.fallback and spec.fallback.component == name:
            yield entry


async def reconcile_component(rt: Runtime, views: Views, entry: ComponentEntry, emit: Emit, now: datetime) -> None:
    """Ready condition from the spec's validity and its fallback's; a breaker status from the first sight on."""
    status = entry.status
    namespace = entry.ref.namespace

    ready, reason, message = readiness(entry, lambda name: views.component(namespace, name))
    conditions = set_condition(
        status.conditions, "Ready", "True" if ready else "False", reason, message, now, entry.generation
    )
    if conditions == status.conditions and status.observed_generation == entry.generation:
        return
    patch: dict[str, Any] = {
        "conditions": [c.to_wire() for c in conditions],
        "observedGeneration": entry.generation,
        "breaker": breakers.book(rt, namespace)
        .states.get(entry.ref.name, status.breaker)
        .model_dump(mode="json", by_alias=True),
        **stats.wire(rt, namespace, entry.ref.name),  # a reset on a new spec lands with its observedGeneration
    }
    await rt.api.patch_status("components", namespace, entry.ref.name, patch)
    if not ready:
        emit(entry.ref.body(), "Warning", reason, message)


async def reconcile_rule(rt: Runtime, entry: RuleEntry, emit: Emit, now: datetime) -> None:
    """`status.valid`/`message` from compiling the CEL expression; a Warning Event when it does not compile."""
    valid = entry.error is None
    message = "" if valid else fit_text(RoutingRuleStatus, "message", entry.error or "")
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
    await rt.api.patch_status("routingrules", entry.ref.namespace, entry.ref.name, patch)
    if not valid:
        emit(entry.ref.body(), "Warning", "InvalidExpression", message)
