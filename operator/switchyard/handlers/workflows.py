"""One kopf daemon per Workflow runs it to completion (see `switchyard.k8s.workflows`)."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.handlers.events import emit
from switchyard.handlers.startup import ensure_flusher
from switchyard.k8s.runtime import Views
from switchyard.k8s.workflows import WorkflowRunner
from switchyard.models.crd import GROUP, VERSION


@kopf.daemon(GROUP, VERSION, "workflows", cancellation_timeout=10.0, backoff=3.0)
async def run_workflow(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: Any,
    sy_components: kopf.Index[Any, Any],
    sy_jobs: kopf.Index[Any, Any],
    sy_pods: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    ensure_flusher(memo)
    views = Views(components=sy_components, jobs=sy_jobs, pods=sy_pods)
    await WorkflowRunner(memo.rt, views, body, emit, logger).serve(stopped)
