"""The ingest endpoint on its own event loop (`--ingest-loop thread`, the default) and in the operator's
(`shared`): events stream in while the operator is stopped (SIGTERM); every event answered 202 is persisted,
none is doubled, and after a restart the re-sent ones are duplicates, so each event is in the result exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import signal
import threading
from typing import Any

import aiohttp
import pytest
from cloudevents.core.bindings.http import to_structured_event

from switchyard.sandbox.process import OperatorProcess, free_port
from tests.emulated.conftest import Kube, new_namespace, wait_for
from tests.emulated.test_triggers import ADMIN, Ingest, event, pending_batches, trigger, workflows

pytestmark = pytest.mark.emulated

STREAMED = 600  # at most this many events per Trigger (below maxItems: the batch stays pending, checkable)


class Stream:
    """Clients posting events `{prefix}-N` to one Trigger until the server goes away or `STREAMED` are sent;
    `answers` maps each event sent to its HTTP status (-1: no answer, the connection failed)."""

    def __init__(self, port: int, namespace: str, trigger_name: str, concurrency: int = 8) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/namespaces/{namespace}/triggers/{trigger_name}"
        self.prefix = trigger_name
        self.concurrency = concurrency
        self.answers: dict[int, int] = {}
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def accepted(self) -> set[int]:
        return {i for i, status in list(self.answers.items()) if status == 202}

    async def _run(self) -> None:
        numbers = itertools.count()
        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                while (i := next(numbers)) < STREAMED:
                    message = to_structured_event(event(f"{self.prefix}-{i}", {"i": i}))
                    headers = {**message.headers, "Authorization": f"Bearer {ADMIN}"}
                    self.answers[i] = -1
                    try:
                        async with session.post(self.url, data=message.body, headers=headers) as response:
                            await response.read()
                            self.answers[i] = response.status
                    except (aiohttp.ClientError, OSError):
                        return  # the server went away: this client stops

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))


def batched_numbers(kube: Kube, trigger_name: str) -> list[int]:
    """The events in the Trigger's one pending batch, as stored (a repeat would show twice)."""
    (pending,) = pending_batches(kube, trigger_name)
    return [json.loads(value)["i"] for value in (pending.data or {}).values()]


def single_numbers(kube: Kube, trigger_name: str) -> list[int]:
    return [json.loads(wf["spec"]["input"]["data"])["i"] for wf in workflows(kube, trigger_name)]


@pytest.mark.parametrize("loop", ["thread", "shared"])
def test_sigterm_with_events_in_flight_loses_and_doubles_nothing(
    kubeconfig: pathlib.Path, tmp_path: pathlib.Path, loop: str
) -> None:
    namespace = new_namespace(kubeconfig, "il")
    kube = Kube(kubeconfig, namespace)
    port = free_port()
    extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1", "--ingest-loop", loop)
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=(namespace,), extra_args=extra)
    client = Ingest(port, namespace)
    try:
        proc.start()
        proc.wait_ready(timeout=60)
        wait_for(client.ready, 30, what="ingest endpoint up")
        trigger(kube, "batched", batch={"maxItems": 1000, "maxWaitSeconds": 3600})
        trigger(kube, "single", historyLimit=1000)
        streams = [Stream(port, namespace, name) for name in ("batched", "single")]
        for stream in streams:
            stream.thread.start()
        wait_for(lambda: all(len(s.accepted()) >= 40 for s in streams), 60, what="events being accepted")
        proc.stop(timeout=30)  # SIGTERM while the clients keep sending
        assert proc.proc is not None and proc.proc.returncode != -signal.SIGKILL, "no clean shutdown"
        for stream in streams:
            stream.thread.join(timeout=60)
            assert not stream.thread.is_alive()
        batched, single = streams
        assert len(batched.answers) < STREAMED and len(single.answers) < STREAMED, "the stop came too late"

        # Accepted means persisted, once: every 202 is in the store; nothing is there twice.
        stored = batched_numbers(kube, "batched")
        assert len(stored) == len(set(stored)), "an event is in the batch twice"
        assert batched.accepted() <= set(stored) <= set(batched.answers)
        started = single_numbers(kube, "single")
        assert len(started) == len(set(started))
        assert single.accepted() <= set(started) <= set(single.answers)

        # The senders re-send what was not answered 202 (and, here, everything else too): all exactly once.
        proc.start()
        proc.wait_ready(timeout=60)
        wait_for(client.ready, 30, what="ingest back")
        for stream in streams:
            for i in sorted(stream.answers):
                status, body = client.send(stream.prefix, event(f"{stream.prefix}-{i}", {"i": i}))
                assert status == 202, body
                if i in stream.accepted():
                    assert body["duplicate"] is True, (stream.prefix, i, body)
        assert sorted(batched_numbers(kube, "batched")) == sorted(batched.answers)
        assert sorted(single_numbers(kube, "single")) == sorted(single.answers)
        log: Any = proc.log()
        assert "Traceback" not in log, log[-4000:]
    finally:
        proc.stop()
        kube.core.delete_namespace(namespace)
