"""Thin kopf wiring of ArtifactStores: one daemon per store keeps its Ready condition current."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.config import OPTIONS
from switchyard.handlers.events import emit
from switchyard.k8s.artifactstores import PLURAL, StoreChecker
from switchyard.models.crd import GROUP, VERSION


def checker(memo: kopf.Memo) -> StoreChecker | None:
    """The process's one checker (kept on the shared Runtime: each object's memo is a copy)."""
    if not hasattr(memo, "rt"):
        return None
    found: StoreChecker | None = memo.rt.extra.get("store_checker")
    if found is None:
        found = memo.rt.extra["store_checker"] = StoreChecker(
            memo.rt.api,
            interval=OPTIONS.store_check_interval,
            backoff_cap=OPTIONS.store_check_backoff_max,
            gc_interval=OPTIONS.artifact_gc_interval,
        )
    return found


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=1.0)
async def artifact_store_daemon(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    found = checker(memo)
    if found is None:  # the `configure` startup handler builds the API client first
        raise kopf.TemporaryError("waiting for the API client", delay=0.2)
    await found.run(body, emit, stopped)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def artifact_store_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    found = checker(memo)
    if found is not None and type != "DELETED":
        found.changed(body.metadata.namespace or "", body.metadata.name or "", body.metadata.get("generation"))
