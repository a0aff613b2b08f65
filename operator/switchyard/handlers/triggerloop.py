"""Where the Trigger engine and the CloudEvents ingest server run: on an event loop of their own, in a thread
with its own API client (`--ingest-loop thread`, the default), or in the operator's event loop (`shared`).

On its own loop, Workflow handling (kopf's handlers, the runners, the Job and Pod watches) cannot delay the
answer to an event: an event is persisted and answered by the thread's loop alone. The engine's state (its
Triggers, counters, open batches, locks) lives on that one loop; the handlers on the operator's loop reach it
through `run`, which runs a function of the engine there and awaits its result. The engine is only ever
touched from its own loop, so nothing in it needs a thread lock.

Shutdown (`stop`): the server stops listening and lets the requests in flight finish (each is persisted and
answered, or, past `SHUTDOWN_SECONDS`, cancelled unanswered: the sender retries, and a re-sent event is a
duplicate, never a second Workflow), then the housekeeping stops, then the thread's API client closes.
Leader election and label shards are unchanged: the startup handler, which runs only in the leader, starts this.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from switchyard.config import Options
from switchyard.ingest.server import IngestServer
from switchyard.k8s.client import Api, load_config
from switchyard.k8s.reviews import Authenticator
from switchyard.k8s.triggers import TriggerEngine
from switchyard.k8s.triggers.clock import file_clock

T = TypeVar("T")
SHUTDOWN_SECONDS = 10.0  # how long requests in flight may take to finish once the server stops
JOIN_SECONDS = 30.0
log = logging.getLogger("switchyard.ingest")

EngineWork = Callable[..., Coroutine[Any, Any, T]]


def new_engine(api: Api, options: Options) -> TriggerEngine:
    return (
        TriggerEngine(api, clock=file_clock(options.test_clock_file)) if options.test_clock_file else TriggerEngine(api)
    )


async def start_parts(engine: TriggerEngine, api: Api, options: Options, closing: contextlib.AsyncExitStack) -> None:
    """The engine's housekeeping and, when a port is set, the ingest server, on the running loop; stopped by
    `closing` last-first (the server, with its requests in flight, before the housekeeping)."""
    closing.callback(engine.batches.close)  # its CEL worker (batches' arguments), once nothing seals any more
    housekeeping = asyncio.create_task(engine.run(), name="trigger-housekeeping")
    closing.push_async_callback(cancel, housekeeping)
    if options.ingest_port:
        authenticator = Authenticator(api, audiences=list(options.ingest_audiences))
        server = IngestServer(
            engine, authenticator, options.ingest_host, options.ingest_port, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await server.start()
        closing.push_async_callback(server.stop)


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class SharedLoop:
    """The engine in the operator's own event loop, on the operator's API client (`--ingest-loop shared`)."""

    def __init__(self, api: Api, options: Options) -> None:
        self.api = api
        self.options = options
        self.engine = new_engine(api, options)
        self._closing = contextlib.AsyncExitStack()

    async def start(self) -> None:
        await start_parts(self.engine, self.api, self.options, self._closing)

    async def run(self, work: EngineWork[T], *args: Any) -> T:
        return await work(self.engine, *args)

    async def stop(self) -> None:
        await self._closing.aclose()


class ThreadLoop:
    """The engine and the ingest server on an event loop of their own, in a thread, with their own API client."""

    def __init__(self, options: Options, make_api: Callable[[], Api] | None = None) -> None:
        self.options = options
        self.make_api = make_api or (lambda: Api(load_config(options.kubeconfig), read_timeout=options.api_timeout))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: TriggerEngine | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def start(self) -> None:
        """Start the thread; return once the server listens (raise what kept it from starting)."""
        self._thread = threading.Thread(target=self._main, name="switchyard-ingest", daemon=True)
        self._thread.start()
        try:
            await asyncio.wrap_future(self._started)
        except BaseException:
            await asyncio.to_thread(self._thread.join, JOIN_SECONDS)
            raise

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to `start` when it had not started yet; logged otherwise
            if not self._started.done():
                self._started.set_exception(exc)
            else:
                log.exception("the ingest loop failed")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        api = self.make_api()
        try:
            async with contextlib.AsyncExitStack() as closing:
                self.engine = new_engine(api, self.options)
                self._stopping = asyncio.Event()
                await start_parts(self.engine, api, self.options, closing)
                self._started.set_result(None)
                await self._stopping.wait()
        finally:
            api.close()

    async def run(self, work: EngineWork[T], *args: Any) -> T:
        """`await work(engine, *args)` on the engine's loop; its result (or exception) here."""
        if self.loop is None or self.engine is None or self.loop.is_closed():
            raise RuntimeError("the Trigger engine's loop is not running")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(work(self.engine, *args), self.loop)
        return await asyncio.wrap_future(future)

    async def stop(self) -> None:
        loop, stopping, thread = self.loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop ended already
            loop.call_soon_threadsafe(stopping.set)
        await asyncio.to_thread(thread.join, JOIN_SECONDS + SHUTDOWN_SECONDS)
        if thread.is_alive():
            log.warning("the ingest loop did not stop within %.0f s", JOIN_SECONDS + SHUTDOWN_SECONDS)


TriggerLoop = SharedLoop | ThreadLoop


def trigger_loop(options: Options, api: Api) -> TriggerLoop:
    """The engine's home as `--ingest-loop` asks."""
    return ThreadLoop(options) if options.ingest_loop == "thread" else SharedLoop(api, options)
