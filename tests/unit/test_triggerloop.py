"""`switchyard.handlers.triggerloop`: the Trigger engine on an event loop of its own, reached from another."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import pytest

from switchyard.config import Options
from switchyard.handlers.triggerloop import SharedLoop, ThreadLoop
from switchyard.k8s.client import Api
from switchyard.k8s.triggers import TriggerEngine


class FakeApi:
    """No call reaches it (no Trigger is known, no port is served); `close` is recorded."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.api_client = None  # the authenticator's typed clients are built, never called

    def close(self) -> None:
        self.closed.set()


async def where(engine: TriggerEngine) -> tuple[int, asyncio.AbstractEventLoop]:
    return threading.get_ident(), asyncio.get_running_loop()


async def fails(engine: TriggerEngine, message: str) -> None:
    raise ValueError(message)


def test_the_engine_runs_on_its_own_thread_and_loop_and_stops_cleanly() -> None:
    api = FakeApi()
    home = ThreadLoop(Options(), make_api=lambda: cast(Api, api))

    async def scenario() -> None:
        await home.start()
        thread, loop = await home.run(where)
        assert thread != threading.get_ident() and loop is not asyncio.get_running_loop()
        assert loop is home.loop and home.engine is not None
        with pytest.raises(ValueError, match="boom"):  # the engine's exception, raised in the caller's loop
            await home.run(fails, "boom")
        await home.stop()
        assert api.closed.is_set() and home.loop is not None and home.loop.is_closed()
        with pytest.raises(RuntimeError, match="not running"):
            await home.run(where)

    asyncio.run(scenario())


def test_a_server_that_cannot_start_is_reported_to_start() -> None:
    api = FakeApi()
    home = ThreadLoop(Options(ingest_port=1, ingest_host="256.0.0.1"), make_api=lambda: cast(Api, api))

    async def scenario() -> None:
        with pytest.raises(OSError):
            await home.start()
        assert api.closed.is_set()

    asyncio.run(scenario())


def test_shared_runs_the_engine_in_the_callers_loop() -> None:
    home = SharedLoop(cast(Api, FakeApi()), Options())

    async def scenario() -> Any:
        await home.start()
        thread, loop = await home.run(where)
        assert thread == threading.get_ident() and loop is asyncio.get_running_loop()
        await home.stop()

    asyncio.run(scenario())
