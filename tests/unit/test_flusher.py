"""The breaker flusher: one per process, whichever object's handler starts it; SIGTERM flushes what is left.

kopf hands each object's handlers a shallow copy of the operator's memo, so an attribute set on one copy is that
object's alone. These tests build the memos the same way (`copy.copy` of the startup memo)."""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.config import Options
from switchyard.handlers.services import Services, services
from switchyard.handlers.startup import ensure_flusher, shutdown
from switchyard.handlers.triggerloop import SharedLoop
from switchyard.k8s import breakers
from switchyard.k8s.artifactstores import StoreChecker
from switchyard.k8s.runtime import Runtime, Views
from switchyard.models.component import CircuitBreakerPolicy


class RecordingApi:
    """The two calls the flusher and shutdown make, recorded."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []
        self.closed = False

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append((plural, namespace, name, status))

    def close(self) -> None:
        self.closed = True


def startup_memo() -> kopf.Memo:
    api: Any = RecordingApi()
    memo = kopf.Memo()
    views = Views(components={}, jobs={}, pods={})  # type: ignore[arg-type]
    memo.services = Services(Options(), Runtime(api=api), views, SharedLoop(api, Options()), StoreChecker(api))
    return memo


def flushers() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "breaker-flusher" and not task.done()]


def test_handlers_of_many_objects_start_one_flusher() -> None:
    async def scenario() -> int:
        base = startup_memo()
        for _ in range(5):  # five Workflows' daemons, each with its own copy of the memo
            ensure_flusher(copy.copy(base))
        running = len(flushers())
        await shutdown(memo=base, logger=logging.getLogger("test"))
        return running

    assert asyncio.run(scenario()) == 1


def test_shutdown_persists_counters_the_flusher_had_not_written_yet() -> None:
    async def scenario() -> tuple[RecordingApi, int]:
        base = startup_memo()
        ensure_flusher(copy.copy(base))  # started by some Workflow's daemon
        await asyncio.sleep(0)
        # a node result lands while the flusher is not asked to write (as in its 1 s pause after a write)
        breakers.book(services(base).rt, "ns").success("parse", CircuitBreakerPolicy(), datetime.now(UTC), "wf", "a")
        api: RecordingApi = services(base).rt.api
        before = len(api.patches)
        await shutdown(memo=base, logger=logging.getLogger("test"))  # kopf's cleanup gets the startup memo
        assert not flushers()
        return api, before

    api, before = asyncio.run(scenario())
    assert before == 0
    assert [(plural, ns, name, status["runs"]) for plural, ns, name, status in api.patches] == [
        ("components", "ns", "parse", 1)
    ]
    assert api.closed


def test_a_flush_cut_short_by_shutdown_is_written_in_full() -> None:
    """SIGTERM lands while the flusher is writing: what that flush had taken from the book is written anyway."""

    class SlowApi(RecordingApi):
        def __init__(self) -> None:
            super().__init__()
            self.writing = asyncio.Event()

        async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
            if not self.writing.is_set():  # the first write hangs until the flusher is cancelled
                self.writing.set()
                await asyncio.sleep(3600)
            await super().patch_status(plural, namespace, name, status)

    async def scenario() -> SlowApi:
        base = startup_memo()
        api = services(base).rt.api = SlowApi()  # type: ignore[assignment]
        now = datetime.now(UTC)
        for component in ("a", "b"):
            breakers.book(services(base).rt, "ns").success(component, CircuitBreakerPolicy(), now, "wf", "n")
        ensure_flusher(copy.copy(base))
        services(base).rt.breaker_flush.set()
        await asyncio.wait_for(api.writing.wait(), timeout=5)  # the flusher took both and is writing "a"
        await shutdown(memo=base, logger=logging.getLogger("test"))
        return api

    api = asyncio.run(scenario())
    assert sorted(name for _, _, name, _ in api.patches) == ["a", "b"]
