"""One kopf daemon per Workflow runs it to completion (see `switchyard.k8s.runner`)."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.config import Options
from switchyard.handlers.events import emit
from switchyard.handlers.services import services
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s import breakers, slots
from switchyard.k8s.runner import WorkflowRunner
from switchyard.models.crd import GROUP, VERSION


def register(registry: kopf.OperatorRegistry, options: Options) -> None:
    """Only the Workflows of this operator's shard (`--shard-label`): another operator runs the rest.

    A kopf `labels=` filter, matched without calling back into our code (a `when=` callback cost ~2 % of the
    operator's CPU: kopf builds its full keyword set for each call, twice per Workflow event)."""
    shard = dict(options.shard_labels) or None
    daemon = kopf.daemon(
        GROUP, VERSION, "workflows", cancellation_timeout=10.0, backoff=3.0, labels=shard, registry=registry
    )
    daemon(run_workflow)
    kopf.on.event(GROUP, VERSION, "workflows", labels=shard, registry=registry)(workflow_changed)


async def run_workflow(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: Any,
    **_: Any,
) -> None:
    ensure_flusher(memo)
    shared = services(memo)
    await shared.rt.wait_synced()  # the Job and Pod stores hold the cluster's state before anything is decided
    await WorkflowRunner(shared.rt, shared.views, body, emit, logger).serve(stopped)


async def workflow_changed(
    body: kopf.Body, type: str | None, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    """A change the runner reads (e.g. the stop annotation) wakes it; a deleted Workflow's breaker trials end."""
    if namespace is None:  # never for a namespaced kind
        return
    rt = services(memo).rt
    if type == "DELETED":
        rt.workflow_deleted(namespace, name)
        slots.book(rt, namespace).forget(name)
        breakers.book(rt, namespace).release_workflow(name)
        rt.breaker_flush.set()
        return
    rt.workflow_event(namespace, name, body["metadata"])
    slots.workflow_seen(rt, namespace, name, body.get("status"))  # waiters' places in line after a restart
