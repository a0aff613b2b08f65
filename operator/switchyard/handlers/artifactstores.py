"""Thin kopf wiring of ArtifactStores: one daemon per store keeps its Ready condition current."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.k8s.artifactstores import PLURAL
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=1.0, registry=registry)(artifact_store_daemon)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(artifact_store_changed)


async def artifact_store_daemon(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    await services(memo).store_checker.run(body, emit, stopped)


async def artifact_store_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type != "DELETED":
        checker = services(memo).store_checker
        checker.changed(body.metadata.namespace or "", body.metadata.name or "", body.metadata.get("generation"))
