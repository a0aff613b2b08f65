"""One kopf daemon per Workflow runs it to completion (see `switchyard.k8s.runner`)."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.config import OPTIONS
from switchyard.handlers.events import emit
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s import breakers
from switchyard.k8s.runner import WorkflowRunner
from switchyard.models.crd import GROUP, VERSION


def shard_filter() -> dict[str, str] | None:
    """Only the Workflows of this operator's shard (`--shard-label`): another operator runs the rest.

    A kopf `labels=` filter, matched without calling back into our code (a `when=` callback cost ~2 % of the
    operator's CPU: kopf builds its full keyword set for each call, twice per Workflow event). Read when this
    module is imported, which `__main__` does after it has set `OPTIONS` (and checks that it did)."""
    return dict(OPTIONS.shard_labels) or None


SHARD = shard_filter()


@kopf.daemon(GROUP, VERSION, "workflows", cancellation_timeout=10.0, backoff=3.0, labels=SHARD)
async def run_workflow(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: Any,
    **_: Any,
) -> None:
    ensure_flusher(memo)
    await memo.rt.wait_synced()  # the Job and Pod stores hold the cluster's state before anything is decided
    await WorkflowRunner(memo.rt, memo.views, body, emit, logger).serve(stopped)


@kopf.on.event(GROUP, VERSION, "workflows", labels=SHARD)
async def workflow_changed(
    body: kopf.Body, type: str | None, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    """A change the runner reads (e.g. the stop annotation) wakes it; a deleted Workflow's breaker trials end."""
    if not hasattr(memo, "rt") or namespace is None:  # None: never for a namespaced kind
        return
    if type == "DELETED":
        memo.rt.workflow_deleted(namespace, name)
        breakers.book(memo.rt, namespace).release_workflow(name)
        memo.rt.breaker_flush.set()
        return
    memo.rt.workflow_event(namespace, name, body["metadata"])
