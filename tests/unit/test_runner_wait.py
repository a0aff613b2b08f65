"""The runner's wait: news, a due timer, the resync or a stop request end it; no task per wait; which
Workflow events are news."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes import client

from switchyard.config import Options
from switchyard.handlers.services import Services
from switchyard.handlers.workflows import workflow_changed
from switchyard.k8s.client import Api
from switchyard.k8s.informer import Store
from switchyard.k8s.runner import WorkflowRunner
from switchyard.k8s.runtime import Runtime, Views


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

    assert asyncio.run(scenario()) < 10.0  # not the 30 s resync (a margin for a loaded machine)


def test_a_due_timer_ends_the_wait_and_no_task_is_left_behind() -> None:
    async def scenario() -> tuple[float, int]:
        trigger, stopped = asyncio.Event(), Stopped()
        before = len(asyncio.all_tasks())
        started = time.monotonic()
        await WorkflowRunner.wait(trigger, stopped, datetime.now(UTC) + timedelta(seconds=0.2))
        return time.monotonic() - started, len(asyncio.all_tasks()) - before

    waited, extra_tasks = asyncio.run(scenario())
    assert 0.15 <= waited < 10.0  # not early; and not the 30 s resync
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

    assert asyncio.run(scenario()) < 10.0  # not the 30 s resync


def test_an_already_stopped_runner_does_not_wait() -> None:
    async def scenario() -> None:
        stopped = Stopped()
        stopped.flag.set()
        await asyncio.wait_for(WorkflowRunner.wait(asyncio.Event(), stopped, None), 1.0)

    asyncio.run(scenario())


def test_only_workflow_events_that_change_what_the_runner_reads_wake_it() -> None:
    """Most Workflow events are the runner's own status writes coming back: those wake nobody. A spec edit
    (generation), the stop annotation, the second stop's or a deletion does."""

    async def scenario() -> list[bool]:
        memo = kopf.Memo()
        rt = Runtime(api=None)  # type: ignore[arg-type]
        memo.services = Services(Options(), rt, None, None, None)  # type: ignore[arg-type]  # only `rt` is read
        trigger = rt.wakeup("ns", "wf")
        woken: list[bool] = []

        async def event(meta: dict[str, Any], status: dict[str, Any], type_: str | None = "MODIFIED") -> None:
            trigger.clear()
            body = {"metadata": {"name": "wf", "namespace": "ns", **meta}, "status": status}
            await workflow_changed(body=body, type=type_, namespace="ns", name="wf", memo=memo)  # type: ignore[arg-type]
            woken.append(trigger.is_set())

        await event({"generation": 1}, {})  # the first event seen
        await event({"generation": 1}, {"progress": "1/20"})  # its own status write
        await event({"generation": 1}, {"progress": "2/20"})
        await event({"generation": 2}, {"progress": "2/20"})  # a spec edit
        await event({"generation": 2, "annotations": {"switchyard.dev/stop": "enough"}}, {})
        await event({"generation": 2, "annotations": {"switchyard.dev/stop": "enough"}}, {"progress": "3/20"})
        twice = {"switchyard.dev/stop": "enough", "switchyard.dev/stop-exit": "really"}
        await event({"generation": 2, "annotations": twice}, {})  # the second stop: skip the exit nodes
        await event({"generation": 2, "deletionTimestamp": "2026-12-01T00:00:00Z"}, {})
        await event({"generation": 2}, {}, "DELETED")
        assert ("ns", "wf") not in rt.workflow_meta
        return woken

    assert asyncio.run(scenario()) == [True, False, False, True, True, False, True, True, False]


def test_a_runner_is_freed_by_reference_counting_alone() -> None:
    """1,000 finished Workflows must not wait for the cycle collector (whose full passes are rare here, see
    `gctuning`) to give back their runs: no part of a runner may refer back to it."""
    body = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u", "generation": 1}, "spec": {}}
    api = Api(client.ApiClient(client.Configuration()), workers=1)
    gc.disable()
    try:
        runner = WorkflowRunner(
            Runtime(api=api), Views(components={}, jobs=Store(), pods=Store()), body, lambda *a: None,
            logging.getLogger("test"),
        )  # fmt: skip
        freed = weakref.ref(runner)
        del runner
        assert freed() is None
    finally:
        gc.enable()
        api.close()
