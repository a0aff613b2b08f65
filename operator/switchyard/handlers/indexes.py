"""The kopf index of Components, which runners and the breaker flusher read often.

Jobs and Pods are not kopf resources here: `k8s/informer.py` keeps them (see there why).
The index function is async: kopf runs a sync handler in its thread pool, a hop per watch event.
"""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.k8s.entries import component_entry
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.index(GROUP, VERSION, "components", registry=registry)(sy_components)  # its name: the startup kwarg


async def sy_components(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): component_entry(body)}
