"""Job and Pod watch events wake the owning Workflow's runner: scheduling is event-driven, not polled.

The handlers are async: they run on the event loop, where the runners' asyncio.Events live (a sync
handler would run in kopf's thread pool, and asyncio.Event is not thread-safe).
"""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.handlers.indexes import OWNED
from switchyard.k8s.render import ANNOTATION_WORKFLOW


def _wake(body: kopf.Body, namespace: str, memo: kopf.Memo) -> None:
    workflow = body.metadata.annotations.get(ANNOTATION_WORKFLOW)
    if workflow and hasattr(memo, "rt"):
        memo.rt.wake(namespace, workflow)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_changed(body: kopf.Body, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _wake(body, namespace, memo)


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def pod_changed(body: kopf.Body, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _wake(body, namespace, memo)
