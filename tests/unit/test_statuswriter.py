"""The status writer gathers node progress: at most one write per interval, the rest with the final phase."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from switchyard.k8s import statuswriter
from switchyard.k8s.statuswriter import PROGRESS_INTERVAL, StatusWriter
from switchyard.logic.breaker import BreakerBook
from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec, WorkflowStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COMPONENTS = {"c": ComponentSpec(image="x")}


class RecordingApi:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_status(self, plural: str, namespace: str, name: str, status: Any, **_: Any) -> None:
        self.patches.append(dict(status))


def test_progress_is_written_at_most_once_per_interval_and_the_rest_goes_with_the_final_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(statuswriter.time, "monotonic", lambda: clock[0])
    api = RecordingApi()
    body = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u"}}
    writer = StatusWriter(api, body, WorkflowStatus(), lambda *a: None)  # type: ignore[arg-type]
    nodes = [NodeSpec(name=n, component="c") for n in ("a", "b", "c")]
    run = WorkflowRun("wf", Dag.build(nodes), {}, parallelism=3, failure_policy="FailFast", started_at=T0, uid="u")
    book = BreakerBook()

    async def scenario() -> list[datetime | None]:
        wakes = [await writer.progress(run, run.step({}, COMPONENTS, book, T0))]  # all three start
        clock[0] += 0.2
        done = {n: JobResult(n, 1, "Succeeded", run.nodes[n].job or "", T0, "", "out") for n in ("a", "b")}
        wakes.append(await writer.progress(run, run.step(done, COMPONENTS, book, T0)))
        clock[0] += 0.2
        last = {"c": JobResult("c", 1, "Succeeded", run.nodes["c"].job or "", T0, "", "out")}
        wakes.append(await writer.progress(run, run.step(last, COMPONENTS, book, T0)))
        assert run.finished
        await writer.finished(run)
        return wakes

    wakes = asyncio.run(scenario())
    assert wakes[0] is None and len(api.patches) == 2  # the first change at once; the final write
    assert {n: s["phase"] for n, s in api.patches[0]["nodes"].items()} == dict.fromkeys("abc", "Running")
    assert wakes[1] is not None and wakes[2] is not None  # gathered: the runner is told when to write them
    final = api.patches[1]
    assert final["phase"] == "Succeeded" and final["progress"] == "3/3"
    assert {n: s["phase"] for n, s in final["nodes"].items()} == dict.fromkeys("abc", "Succeeded")
    assert writer.pending == set()


def test_a_change_after_the_interval_is_written_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(statuswriter.time, "monotonic", lambda: clock[0])
    api = RecordingApi()
    body = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u"}}
    writer = StatusWriter(api, body, WorkflowStatus(), lambda *a: None)  # type: ignore[arg-type]
    run = WorkflowRun(
        "wf", Dag.build([NodeSpec(name="a", component="c")]), {}, parallelism=1, failure_policy="FailFast",
        started_at=T0, uid="u",
    )  # fmt: skip
    book = BreakerBook()

    async def scenario() -> None:
        assert await writer.progress(run, run.step({}, COMPONENTS, book, T0)) is None
        clock[0] += PROGRESS_INTERVAL
        done = {"a": JobResult("a", 1, "Failed", run.nodes["a"].job or "", T0, "Error", "boom")}
        assert await writer.progress(run, run.step(done, COMPONENTS, book, T0)) is None

    asyncio.run(scenario())
    assert [p["nodes"]["a"]["phase"] for p in api.patches] == ["Running", "Retrying"]


def test_before_write_runs_before_every_status_write() -> None:
    """The runner persists held-back outputs in `before_write`: it must precede each write, of any kind."""
    order: list[str] = []

    class OrderedApi(RecordingApi):
        async def patch_status(self, plural: str, namespace: str, name: str, status: Any, **_: Any) -> None:
            order.append("status")

    async def before() -> None:
        order.append("outputs")

    body = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u"}}
    writer = StatusWriter(OrderedApi(), body, WorkflowStatus(), lambda *a: None, before_write=before)  # type: ignore[arg-type]
    run = WorkflowRun(
        "wf", Dag.build([NodeSpec(name="a", component="c")]), {}, parallelism=1, failure_policy="FailFast",
        started_at=T0, uid="u",
    )  # fmt: skip

    async def scenario() -> None:
        await writer.progress(run, run.step({}, COMPONENTS, BreakerBook(), T0))
        await writer.waiting("later")
        await writer.finished(run)

    asyncio.run(scenario())
    assert order == ["outputs", "status"] * 3


def test_a_large_workflow_writes_its_progress_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each progress write rewrites the whole object in etcd: a 1 MB Workflow waits ~10 s between writes."""
    clock = [100.0]
    monkeypatch.setattr(statuswriter.time, "monotonic", lambda: clock[0])
    nodes = [NodeSpec(name=f"node-{i:04d}", component="c") for i in range(4)]
    small_body = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u"}, "spec": {"nodes": []}}
    big_body = {**small_body, "spec": {"input": {"data": "x" * 1_000_000}}}
    intervals = []
    for body in (small_body, big_body):
        api = RecordingApi()
        writer = StatusWriter(api, body, WorkflowStatus(), lambda *a: None)  # type: ignore[arg-type]
        run = WorkflowRun("wf", Dag.build(nodes), {}, parallelism=1, failure_policy="FailFast", started_at=T0, uid="u")
        book = BreakerBook()

        async def scenario(writer: StatusWriter = writer, run: WorkflowRun = run, book: BreakerBook = book) -> float:
            assert await writer.progress(run, run.step({}, COMPONENTS, book, T0)) is None  # written at once
            first = next(iter(run.nodes))
            done = {first: JobResult(first, 1, "Succeeded", run.nodes[first].job or "", T0, "", "out")}
            wake = await writer.progress(run, run.step(done, COMPONENTS, book, T0))
            assert wake is not None  # gathered for later
            return (wake - datetime.now(UTC)).total_seconds()

        intervals.append(asyncio.run(scenario()))
    assert intervals[0] <= PROGRESS_INTERVAL
    assert 9.0 < intervals[1] <= 10.5  # ~1 MB over 100 kB/s
