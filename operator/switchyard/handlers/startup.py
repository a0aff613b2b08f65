"""Operator start and stop: kopf settings, the API client, the metrics server, the breaker flusher."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import prometheus_client

from switchyard import celpool
from switchyard.config import OPTIONS
from switchyard.gctuning import freeze_startup_heap
from switchyard.handlers.events import emit
from switchyard.handlers.persistence import LeanDiffBaseStorage, LeanProgressStorage, essence_needed
from switchyard.k8s import breakers
from switchyard.k8s.client import CONNECT_TIMEOUT, Api, load_config
from switchyard.k8s.informer import Informer
from switchyard.k8s.namespaces import NamespaceWatch
from switchyard.k8s.podevents import FailedCreateWatch
from switchyard.k8s.runtime import Runtime, Views


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    settings.persistence.finalizer = "switchyard.dev/finalizer"
    # same essence, fewer deep copies; none at all while no handler reads one
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(needed=essence_needed(kopf.get_default_registry()))
    settings.persistence.progress_storage = LeanProgressStorage()
    settings.posting.level = logging.WARNING  # our own Events are explicit; only log warnings become Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # kopf's own calls (patches, lists, posting Events) are bounded as ours are (k8s/client.py)
    settings.networking.request_timeout = OPTIONS.api_timeout
    settings.networking.connect_timeout = CONNECT_TIMEOUT
    settings.watching.connect_timeout = CONNECT_TIMEOUT
    settings.execution.max_workers = 8
    celpool.configure(OPTIONS.cel_workers, OPTIONS.cel_worker_memory_mib)  # before the first Workflow routes
    memo.rt = Runtime(api=Api(load_config(OPTIONS.kubeconfig), read_timeout=OPTIONS.api_timeout))
    # Jobs and Pods: a plain informer each (k8s/informer.py), not kopf handlers; runners wait for their lists
    loop = asyncio.get_running_loop()
    memo.informers = [
        Informer(memo.rt.api.api_client, kind, OPTIONS.namespaces, memo.rt.job_changed, loop)
        for kind in ("jobs", "pods")
    ]
    memo.watches = list(memo.informers)
    # why a Job has no Pod: the job controller's FailedCreate Events (a quota, Pod Security, a ServiceAccount)
    refusals = FailedCreateWatch(
        memo.rt.api.api_client, OPTIONS.namespaces, memo.informers[0].store, memo.rt.job_changed, loop
    )
    memo.watches.append(refusals)
    if OPTIONS.namespaces and hasattr(memo, "insights"):  # kopf alone can miss one created while it starts
        memo.watches.append(NamespaceWatch(memo.rt.api.api_client, OPTIONS.namespaces, memo.insights, loop))
    for watch in memo.watches:
        watch.start()
    memo.rt.synced = [informer.synced for informer in memo.informers]
    memo.views = Views(
        components=kwargs["sy_components"],  # kopf passes an index under its name
        jobs=memo.informers[0].store,
        pods=memo.informers[1].store,
        refusals=refusals.refusals,
    )
    if OPTIONS.metrics_port:
        prometheus_client.start_http_server(OPTIONS.metrics_port, addr=OPTIONS.metrics_host)
    frozen = freeze_startup_heap()  # the startup heap is never walked by the collector again
    logging.getLogger("switchyard").debug("froze %d startup objects", frozen)
    logging.getLogger("switchyard").info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)


def ensure_flusher(memo: kopf.Memo) -> None:
    """Start the breaker flusher, once per process, from a handler's context: kopf's event poster is reachable
    only there. The task is kept on the shared `Runtime`: each object's handlers get their own copy of the memo."""
    rt: Runtime = memo.rt
    if rt.flusher is None:
        rt.flusher = asyncio.create_task(breakers.flusher(rt, memo.views, emit), name="breaker-flusher")


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """SIGTERM: stop the flusher, then persist what the breaker books still hold (counters, transitions)."""
    flusher = memo.rt.flusher if hasattr(memo, "rt") else None
    if flusher is not None:  # none started: no Workflow or Component was seen, so no book holds anything
        flusher.cancel()  # it flushes a last time
        try:
            await flusher
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # shutting down: report and go (the state is rebuilt from the cluster)
            logger.warning("could not persist breaker state on shutdown: %s", exc)
    for watch in getattr(memo, "watches", []):
        watch.stop()
    celpool.close()  # the CEL worker processes
    if hasattr(memo, "rt"):
        memo.rt.api.close()
