"""Thin kopf wiring of Triggers: the engine and the ingest server at startup, Trigger and Workflow watch events."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kopf

from switchyard.config import OPTIONS
from switchyard.handlers.events import emit
from switchyard.ingest.server import IngestServer
from switchyard.k8s.reviews import Authenticator
from switchyard.k8s.triggers import LABEL_TRIGGER, TriggerEngine
from switchyard.models.crd import GROUP, VERSION


def file_clock(path: str) -> Callable[[], datetime]:
    """The test-only clock of `--test-clock-file`: the time written in the file, the real time without one."""

    def now() -> datetime:
        try:
            text = pathlib.Path(path).read_text().strip()
        except OSError:
            text = ""
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else datetime.now(UTC)

    return now


@kopf.on.startup()
async def start_triggers(memo: kopf.Memo, **_: Any) -> None:
    if not hasattr(memo, "rt"):  # the `configure` startup handler builds the API client first
        raise kopf.TemporaryError("waiting for the API client", delay=0.2)
    engine = (
        TriggerEngine(memo.rt.api)
        if not OPTIONS.test_clock_file
        else TriggerEngine(memo.rt.api, clock=file_clock(OPTIONS.test_clock_file))
    )
    memo.trigger_engine = engine
    memo.trigger_task = asyncio.create_task(engine.run(), name="trigger-housekeeping")
    if OPTIONS.ingest_port:
        server = IngestServer(
            engine,
            Authenticator(memo.rt.api, audiences=OPTIONS.ingest_audiences),
            OPTIONS.ingest_host,
            OPTIONS.ingest_port,
        )
        await server.start()
        memo.ingest_server = server


@kopf.on.cleanup()
async def stop_triggers(memo: kopf.Memo, **_: Any) -> None:
    server = getattr(memo, "ingest_server", None)
    if server is not None:
        await server.stop()
    task = getattr(memo, "trigger_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@kopf.on.event(GROUP, VERSION, "triggers")
async def trigger_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    engine: TriggerEngine | None = getattr(memo, "trigger_engine", None)
    if engine is None:
        return
    if type == "DELETED":
        engine.forget(body.metadata.namespace or "", body.metadata.name or "")
        return
    entry = engine.observe(body)
    problem = await engine.reconcile(entry)
    if problem is not None:
        emit(body, "Warning", entry.error_reason, problem)
    engine.wake.set()


@kopf.on.event(GROUP, VERSION, "workflows", labels={LABEL_TRIGGER: kopf.PRESENT})
async def trigger_workflow_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    engine: TriggerEngine | None = getattr(memo, "trigger_engine", None)
    if engine is not None:
        await engine.observe_workflow(body, deleted=type == "DELETED")
