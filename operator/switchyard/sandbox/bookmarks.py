"""Periodic watch bookmarks for the emulated API server, as kube-apiserver's watch cache sends them.

A watch with `allowWatchBookmarks=true` gets a `BOOKMARK` event (the object: kind, apiVersion and
`metadata.resourceVersion` only) every `every` seconds (a minute on a real server) and a last one 2 s before
its `timeoutSeconds` deadline, so that a client resumes from a recent resourceVersion even when nothing it
watches changed: events of other objects still move the version on, and without a bookmark the version
it resumes from may have left the history window (410 Gone, a full relist).
"""

from __future__ import annotations

import math
from typing import Any

BEFORE_DEADLINE = 2.0  # seconds before a watch's deadline when its last bookmark goes out


class BookmarkTimer:
    """When the next bookmark of one watch is due (loop time in seconds); `every=None`: never."""

    def __init__(self, every: float | None, now: float, deadline: float | None) -> None:
        self.every = every
        self.deadline = deadline
        self.next = math.inf if every is None else self._after(now)

    def _after(self, now: float) -> float:
        """The next one: a period on, or the pre-deadline one if that comes first; none after that one (a
        watch shorter than 2 s gets none), as the watch cache's `nextBookmarkTime` decides."""
        assert self.every is not None
        at = now + self.every
        if self.deadline is not None:
            at = min(at, self.deadline - BEFORE_DEADLINE)
        return at if at > now else math.inf

    def due(self, now: float) -> bool:
        """True (once per period) when a bookmark should go out now."""
        if now < self.next:
            return False
        self.next = self._after(now)
        return True

    def wait(self, now: float) -> float:
        return max(0.0, self.next - now)


def bookmark(kind: str, api_version: str, resource_version: int | str) -> dict[str, Any]:
    return {
        "type": "BOOKMARK",
        "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(resource_version)}},
    }
