"""Operator start and stop: kopf settings, the shared `Services` (API client, watches, engines), the metrics
server, the breaker flusher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf
import prometheus_client

from switchyard import celpool
from switchyard.config import Options
from switchyard.gctuning import freeze_startup_heap
from switchyard.handlers.events import emit
from switchyard.handlers.persistence import LeanDiffBaseStorage, LeanProgressStorage, essence_needed
from switchyard.handlers.services import Services, services
from switchyard.handlers.triggerloop import trigger_loop
from switchyard.k8s import breakers
from switchyard.k8s.artifactstores import StoreChecker
from switchyard.k8s.client import CONNECT_TIMEOUT, Api, load_config
from switchyard.k8s.informer import Informer
from switchyard.k8s.namespaces import NamespaceWatch
from switchyard.k8s.podevents import FailedCreateWatch
from switchyard.k8s.runtime import IndexLike, Runtime, Views
from switchyard.kopfcompat import Insights
from switchyard.models.labels import FINALIZER


def register(registry: kopf.OperatorRegistry, options: Options, insights: Insights) -> None:
    """The startup handler (kopf runs no resource handler before it has finished) and the cleanup handler."""

    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
        configure_kopf(settings, options, registry)
        memo.services = await start(options, insights, kwargs["sy_components"])  # kopf passes an index by name

    kopf.on.startup(registry=registry, id="configure")(configure)
    kopf.on.cleanup(registry=registry)(shutdown)


def configure_kopf(settings: kopf.OperatorSettings, options: Options, registry: kopf.OperatorRegistry) -> None:
    settings.persistence.finalizer = FINALIZER
    # same essence, fewer deep copies; none at all while no handler reads one
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(needed=essence_needed(registry))
    settings.persistence.progress_storage = LeanProgressStorage()
    settings.posting.level = logging.WARNING  # our own Events are explicit; only log warnings become Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # kopf's own calls (patches, lists, posting Events) are bounded as ours are (k8s/client.py)
    settings.networking.request_timeout = options.api_timeout
    settings.networking.connect_timeout = CONNECT_TIMEOUT
    settings.watching.connect_timeout = CONNECT_TIMEOUT
    settings.execution.max_workers = 8


async def start(options: Options, insights: Insights, components: IndexLike) -> Services:
    """Build and start everything the handlers share; what started is stopped again if a later part fails."""
    rt = Runtime(api=Api(load_config(options.kubeconfig), read_timeout=options.api_timeout), options=options)
    try:
        async with contextlib.AsyncExitStack() as closing:
            started = await start_parts(options, insights, components, rt, closing)
            started.closing = closing.pop_all()
    except BaseException:
        rt.api.close()
        raise
    frozen = freeze_startup_heap()  # the startup heap is never walked by the collector again
    logging.getLogger("switchyard").debug("froze %d startup objects", frozen)
    loop = asyncio.get_running_loop()
    logging.getLogger("switchyard").info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
    return started


async def start_parts(
    options: Options, insights: Insights, components: IndexLike, rt: Runtime, closing: contextlib.AsyncExitStack
) -> Services:
    celpool.configure(options.cel_workers, options.cel_worker_memory_mib)  # before the first Workflow routes
    closing.callback(celpool.close)  # the CEL worker processes
    # Jobs and Pods: a plain informer each (k8s/informer.py), not kopf handlers; runners wait for their lists
    loop = asyncio.get_running_loop()
    namespaces = list(options.namespaces)
    jobs, pods = (Informer(rt.api.api_client, kind, namespaces, rt.job_changed, loop) for kind in ("jobs", "pods"))
    # why a Job has no Pod: the job controller's FailedCreate Events (a quota, Pod Security, a ServiceAccount)
    refusals = FailedCreateWatch(rt.api.api_client, namespaces, jobs.store, rt.job_changed, loop)
    watches: list[Informer | FailedCreateWatch | NamespaceWatch] = [jobs, pods, refusals]
    if namespaces:  # kopf alone can miss a namespace created while it starts
        watches.append(NamespaceWatch(rt.api.api_client, namespaces, insights, loop))
    for watch in watches:
        watch.start()
        closing.callback(watch.stop)
    rt.synced = [jobs.synced, pods.synced]
    views = Views(components=components, jobs=jobs.store, pods=pods.store, refusals=refusals.refusals)
    # the Trigger engine with its housekeeping and the ingest server: a loop of their own unless --ingest-loop shared
    triggers = trigger_loop(options, rt.api)
    await triggers.start()
    closing.push_async_callback(triggers.stop)
    store_checker = StoreChecker(
        rt.api,
        interval=options.store_check_interval,
        backoff_cap=options.store_check_backoff_max,
        gc_interval=options.artifact_gc_interval,
    )
    if options.metrics_port:
        prometheus_client.start_http_server(options.metrics_port, addr=options.metrics_host)
    return Services(options, rt, views, triggers, store_checker)


def ensure_flusher(memo: kopf.Memo) -> None:
    """Start the breaker flusher, once per process, from a handler's context: kopf's event poster is reachable
    only there. The task is kept on the shared `Services`: each object's handlers get their own copy of the memo."""
    shared = services(memo)
    if shared.flusher is None:
        shared.flusher = asyncio.create_task(breakers.flusher(shared.rt, shared.views, emit), name="breaker-flusher")


async def shutdown(memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """SIGTERM: stop the flusher, then persist what the breaker books still hold (counters, transitions); then
    stop what the startup handler started, the API client last."""
    shared: Services | None = memo.get("services")  # None: the startup handler never finished
    if shared is None:
        return
    if shared.flusher is not None:  # none started: no Workflow or Component was seen, so no book holds anything
        shared.flusher.cancel()  # it flushes a last time
        try:
            await shared.flusher
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # shutting down: report and go (the state is rebuilt from the cluster)
            logger.warning("could not persist breaker state on shutdown: %s", exc)
    await shared.closing.aclose()
    shared.rt.api.close()
