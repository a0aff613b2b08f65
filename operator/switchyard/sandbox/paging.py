"""Chunked lists for the emulated API server: `limit` and `continue` as kube-apiserver serves them.

A list with `?limit=N` returns at most N items; when more remain, `metadata.continue` carries an opaque token
for the next page and, on a list without label or field selector, `metadata.remainingItemCount` says how
many (a real server cannot count a filtered remainder cheaply and leaves it out). Every page of one list
comes from the snapshot its first page took, at that page's `resourceVersion`, as etcd serves all pages
at one revision: objects written meanwhile do not show up, deleted ones still do. A token whose snapshot is
gone (older than `ttl`, as etcd compacts the revision after 5 minutes, or pushed out by `kept` newer lists)
is 410 `Expired`; a token that is not one of ours, or is used for another resource, is 400.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter."
)


class PagingError(Exception):
    """A list request the API server refuses: `code` 400 (bad limit or token) or 410 (expired token)."""

    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


@dataclass
class Snapshot:
    scope: str  # what was listed (resource, namespace, selectors): a token is only good for the same list
    resource_version: str
    items: list[dict[str, Any]]  # the stored bodies (never changed in place: writes store new ones)
    taken: float


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    metadata: dict[str, Any]  # resourceVersion, and continue / remainingItemCount when more remain


class Pager:
    """The snapshots of lists still being paged through, bounded in number and age. Thread-safe."""

    def __init__(self, ttl: float = 300.0, kept: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.kept, self.clock = ttl, kept, clock
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def page(
        self,
        params: Mapping[str, str],
        scope: str,
        current: Callable[[], tuple[list[dict[str, Any]], str]],
    ) -> Page:
        """One page of a list. `current()` lists everything now: (items in key order, resourceVersion)."""
        limit = _limit(params.get("limit"))
        token = params.get("continue")
        filtered = bool(params.get("labelSelector") or params.get("fieldSelector"))
        if not token:
            items, rv = current()
            if limit is None or len(items) <= limit:
                return Page(items, {"resourceVersion": rv})
            ident, offset = self._keep(Snapshot(scope, rv, items, self.clock())), 0
        else:
            if params.get("resourceVersion"):
                raise PagingError(400, "specifying resource version is not allowed when using continue", "BadRequest")
            ident, offset = _decode(token)
            snapshot = self._find(ident, scope)
            items, rv = snapshot.items, snapshot.resource_version
        end = len(items) if limit is None else offset + limit
        chunk = items[offset:end]
        metadata: dict[str, Any] = {"resourceVersion": rv}
        if end < len(items):
            metadata["continue"] = _encode(ident, rv, end)
            if not filtered:
                metadata["remainingItemCount"] = len(items) - end
        else:
            with self._lock:
                self._snapshots.pop(ident, None)  # the last page: nobody continues from here
        return Page(chunk, metadata)

    def _keep(self, snapshot: Snapshot) -> int:
        with self._lock:
            ident = next(self._ids)
            self._snapshots[ident] = snapshot
            while len(self._snapshots) > self.kept:
                self._snapshots.popitem(last=False)
            return ident

    def _find(self, ident: int, scope: str) -> Snapshot:
        with self._lock:
            now = self.clock()
            for old in [i for i, s in self._snapshots.items() if now - s.taken > self.ttl]:
                del self._snapshots[old]
            snapshot = self._snapshots.get(ident)
        if snapshot is None:
            raise PagingError(410, EXPIRED_MESSAGE, "Expired")
        if snapshot.scope != scope:
            raise PagingError(400, "continue key is not valid: the key is for another list", "BadRequest")
        return snapshot


def _limit(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise PagingError(400, f"limit: Invalid value: {text!r}: must be an integer", "BadRequest") from None
    return value if value > 0 else None  # 0 or less: no limit, as the API server reads it


def _encode(ident: int, rv: str, offset: int) -> str:
    # The shape of kube-apiserver's token (base64 of {"v", "rv", "start"}), with our snapshot and offset
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": offset, "snapshot": ident}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("unknown version")
        return int(data["snapshot"]), int(data["start"])
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PagingError(400, f"continue key is not valid: {exc}", "BadRequest") from None
