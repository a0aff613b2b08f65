"""The runner's wait: news, a due timer, the resync or a stop request end it; no task per wait."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from switchyard.k8s.runner import WorkflowRunner


class Stopped:
    """kopf's DaemonStopped, as the runner uses it: truthy once stopped, and awaitable."""

    def __init__(self) -> None:
        self.flag = asyncio.Event()

    def __bool__(self) -> bool:
        return self.flag.is_set()

    async def wait(self) -> None:
        await self.flag.wait()


def test_news_wakes_the_wait_at_once() -> None:
    async def scenario() -> float:
        trigger, stopped = asyncio.Event(), Stopped()
        asyncio.get_running_loop().call_later(0.05, trigger.set)
        started = time.monotonic()
        await WorkflowRunner.wait(trigger, stopped, None)  # the resync is 30 s away
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_a_due_timer_ends_the_wait_and_no_task_is_left_behind() -> None:
    async def scenario() -> tuple[float, int]:
        trigger, stopped = asyncio.Event(), Stopped()
        before = len(asyncio.all_tasks())
        started = time.monotonic()
        await WorkflowRunner.wait(trigger, stopped, datetime.now(UTC) + timedelta(seconds=0.2))
        return time.monotonic() - started, len(asyncio.all_tasks()) - before

    waited, extra_tasks = asyncio.run(scenario())
    assert 0.15 <= waited < 1.5
    assert extra_tasks == 0


def test_a_stop_request_wakes_the_wait_through_the_relay() -> None:
    async def scenario() -> float:
        trigger, stopped = asyncio.Event(), Stopped()
        relay = asyncio.ensure_future(WorkflowRunner.relay_stop(stopped, trigger))
        asyncio.get_running_loop().call_later(0.05, stopped.flag.set)
        started = time.monotonic()
        await WorkflowRunner.wait(trigger, stopped, None)
        relay.cancel()
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_an_already_stopped_runner_does_not_wait() -> None:
    async def scenario() -> None:
        stopped = Stopped()
        stopped.flag.set()
        await asyncio.wait_for(WorkflowRunner.wait(asyncio.Event(), stopped, None), 1.0)

    asyncio.run(scenario())
