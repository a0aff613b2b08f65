"""Watches: the bounded log of change events every write appends to, and the event stream a watch request gets.

``EventLog`` keeps the last ``history_window`` events (a resumed watch older than that is 410 Gone) and wakes
the streams, from whatever thread wrote. ``stream`` serves one watch: initial events, translation of events
moving in or out of a selector, ``as=Table`` rows, periodic and initial-events-end bookmarks, ``timeoutSeconds``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmock._internal import rendering

from switchyard.sandbox.apiserver.errors import ApiError
from switchyard.sandbox.apiserver.registry import Address, ResourceType
from switchyard.sandbox.bookmarks import BookmarkTimer, bookmark

if TYPE_CHECKING:
    from switchyard.sandbox.apiserver.store import Store


@dataclass
class WatchEvent:
    rv: int
    group: str
    plural: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


class EventLog:
    """The retained change events, newest last; streams wait on ``wakeup`` (replaced at each event)."""

    def __init__(self, history_window: int) -> None:
        self.events: collections.deque[WatchEvent] = collections.deque(maxlen=history_window)
        self.wakeup = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's loop, where streams wait
        self.stopping = False

    def emit(self, rtype: ResourceType, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self.events.append(WatchEvent(rv, rtype.group, rtype.plural, event_type, obj, old))
        loop = self.loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        wakeup, self.wakeup = self.wakeup, asyncio.Event()
        wakeup.set()

    def too_old(self, start: int) -> bool:
        """Whether events after ``start`` have already left the window."""
        return len(self.events) == self.events.maxlen and bool(self.events) and start < self.events[0].rv - 1

    def since(self, last: int, lock: threading.RLock) -> list[WatchEvent]:
        """The events after resourceVersion ``last``, oldest first."""
        with lock:
            fresh: list[WatchEvent] = []
            for event in reversed(self.events):
                if event.rv <= last:
                    break
                fresh.append(event)
        fresh.reverse()
        return fresh

    def stop(self) -> None:
        self.stopping = True
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake)


def stream(
    store: Store,
    request: rendering.Request,
    address: Address,
    params: Mapping[str, str],
    matches: Callable[[Mapping[str, Any]], bool],
    table: Callable[[list[dict[str, Any]]], dict[str, Any]],
    bookmark_seconds: float,
) -> rendering.Response:
    """The response of a watch request (``table``: the Table of some objects, for ``as=Table``)."""
    if address.name is not None:
        by_name = matches
        target = address.name
        matches = lambda body: body["metadata"]["name"] == target and by_name(body)  # noqa: E731
    rtype, version, namespace = address.rtype, address.version, address.namespace
    events = store.events
    since = params.get("resourceVersion") or "0"
    send_initial = params.get("sendInitialEvents") == "true"
    bookmarks = params.get("allowWatchBookmarks") == "true"
    timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
    if not since.isdigit():
        raise ApiError(400, f"invalid resourceVersion: {since!r}")
    with store.lock:
        initial: list[dict[str, Any]] = []
        gone = False
        start = int(since)
        if since == "0" or send_initial:
            start = store.resource_version
            initial = [
                {"type": "ADDED", "object": store.present(obj, version)}
                for obj in store.iter(rtype, namespace)
                if matches(obj)
            ]
        elif events.too_old(start):
            gone = True

    def translate(event: WatchEvent) -> dict[str, Any] | None:
        if event.group != rtype.group or event.plural != rtype.plural:
            return None
        if namespace is not None and event.obj["metadata"].get("namespace") != namespace:
            return None
        now_in = matches(event.obj)
        was_in = event.old is not None and matches(event.old)
        event_type = event.type
        if event_type == "MODIFIED":
            if now_in and not was_in:
                event_type = "ADDED"
            elif was_in and not now_in:
                event_type, now_in = "DELETED", True
        if not now_in:
            return None
        return {"type": event_type, "object": store.present(event.obj, version)}

    as_table = "as=Table" in request.headers.get("Accept", "")
    first_row = [True]

    def tabled(event: dict[str, Any]) -> dict[str, Any]:
        """``kubectl get -w``: each event's object is a Table of one row; column definitions on the first."""
        if not as_table or event["type"] in ("ERROR", "BOOKMARK"):
            return event
        rows = table([event["object"]])
        if not first_row[0]:
            rows["columnDefinitions"] = []
        first_row[0] = False
        return {"type": event["type"], "object": rows}

    async def lines() -> AsyncIterator[Any]:
        yield b""  # send the headers now: clients wait for them before reading events
        if gone:
            error = ApiError(410, f"too old resource version: {start} ({store.resource_version})", reason="Expired")
            yield {"type": "ERROR", "object": error.status()}
            return
        for added in initial:
            yield tabled(added)
        if send_initial and bookmarks:
            yield {
                "type": "BOOKMARK",
                "object": {
                    "kind": rtype.kind,
                    "apiVersion": rtype.api_version(version),
                    "metadata": {
                        "resourceVersion": str(start),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
            }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        last = start
        timer = BookmarkTimer(bookmark_seconds if bookmarks else None, loop.time(), deadline)
        while not events.stopping:
            wakeup = events.wakeup
            for event in events.since(last, store.lock):
                last = event.rv
                translated = translate(event)
                if translated is not None:
                    yield tabled(translated)
            if timer.due(loop.time()):  # periodic bookmarks (bookmarks.py)
                yield bookmark(rtype.kind, rtype.api_version(version), last)
            transport = request._raw_request.transport if request._raw_request is not None else None
            if transport is None or transport.is_closing():
                return
            wait = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if wait <= 0:
                return
            wait = min(wait, timer.wait(loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=wait)

    return rendering.Response(status=200, headers={"Content-Type": "application/json"}, payload=lines())
