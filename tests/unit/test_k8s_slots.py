"""`k8s.slots`: the count from the Job informer's store, waking the waiting runners, the Component status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from switchyard.k8s import slots
from switchyard.k8s.entries import JobEntry
from switchyard.k8s.informer import Store, Summary
from switchyard.k8s.runtime import Runtime, Views

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeApi:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any], **_: Any) -> None:
        self.patches.append((plural, namespace, name, status))


def put(store: Store, namespace: str, name: str, component: str, state: str = "Active") -> None:
    entry = JobEntry(name, "wf", "n", 1, state, None, "", component=component)  # type: ignore[arg-type]
    store.put(Summary((namespace, name), name, entry, "wf"))


def test_counts_the_components_active_jobs_of_the_namespace_and_wakes_waiters() -> None:
    api = FakeApi()
    rt, store = Runtime(api=api), Store()  # type: ignore[arg-type]
    views = Views(components={}, jobs=store, pods=Store())
    put(store, "ns", "a-1", "single")
    put(store, "ns", "b-1", "single", "Succeeded")
    put(store, "ns", "c-1", "other")
    put(store, "elsewhere", "d-1", "single")
    slots.refresh(rt, views, "ns", {"single": 1}, T0)
    book = slots.book(rt, "ns")
    assert book.counts("single") == (1, 0)
    assert not book.admit("single", 1, "waiter", "n", T0, "waiter-n-1", T0).admitted
    event = rt.wakeup("ns", "waiter")
    put(store, "ns", "a-1", "single", "Succeeded")
    slots.refresh(rt, views, "ns", {"single": 1}, T0)
    assert event.is_set() and book.counts("single") == (0, 1)
    asyncio.run(slots.report(rt, "ns", ["single"]))
    asyncio.run(slots.report(rt, "ns", ["single"]))  # unchanged: no second patch
    assert api.patches == [("components", "ns", "single", {"running": 0, "waiting": 1})]


def test_waiters_from_a_workflow_event_and_a_runner_ending() -> None:
    api = FakeApi()
    rt = Runtime(api=api)  # type: ignore[arg-type]
    message = "waiting for component single: 1/1 running"
    status = {"nodes": {"n": {"reason": "WaitingForComponent", "message": message, "readyAt": "2026-01-01T00:00:00Z"}}}
    slots.workflow_seen(rt, "ns", "wf", status)
    slots.workflow_seen(rt, "ns", "plain", {"nodes": {"n": {"phase": "Running"}}})
    assert slots.book(rt, "ns").counts("single") == (0, 1)
    asyncio.run(slots.run_ended(rt, "ns", "wf"))
    assert slots.book(rt, "ns").counts("single") == (0, 0)
    assert api.patches == [("components", "ns", "single", {"running": 0, "waiting": 0})]


def test_news_of_a_job_holding_a_slot_wakes_the_waiting_workflows() -> None:
    rt = Runtime(api=FakeApi())  # type: ignore[arg-type]
    book = slots.book(rt, "ns")
    book.observe("single", {"a-1"}, {"a-1"}, T0)
    book.admit("single", 1, "waiter", "n", T0, "waiter-n-1", T0)
    event = rt.wakeup("ns", "waiter")
    rt.job_changed("ns", "gone", "unrelated")
    assert not event.is_set()
    rt.job_changed("ns", "gone", "a-1")  # its Workflow's runner is gone: the waiter is told anyway
    assert event.is_set()
