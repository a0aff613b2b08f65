"""Fault injection for the emulated API server: make chosen requests fail like a real API server would.

Tests call ``cluster.faults.inject(method="POST", path_regex=r"/jobs$", status=429, times=2, retry_after=1)``;
the next two matching requests get a ``kind: Status`` error (with ``Retry-After`` for 429) and change nothing.

A stall (``inject(..., stall=math.inf)``) is what a black-holed connection or a wedged API server does: the
request is accepted and never answered (held until the client hangs up), or with a finite ``stall`` answered
normally after that many seconds. Only the client's own timeout gets it out of a stall.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The reasons a real API server puts into Status bodies for these codes.
STATUS_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    """One injected failure rule; ``times=None`` means forever (until ``clear()``)."""

    method: str | None
    path_regex: re.Pattern[str]
    status: int
    times: int | None
    retry_after: int | None = None
    reason: str | None = None
    message: str | None = None
    after: int = 0  # let this many matching requests through first
    stall: float | None = None  # hold the request this long (math.inf: never answer), then serve it normally
    held: int = 0  # requests being held by this stall right now
    passed: int = 0
    hits: int = 0
    matched: list[str] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultInjector:
    """A thread-safe list of faults; the first live one matching a request fires (and counts down)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        *,
        method: str | None = None,
        path_regex: str = ".*",
        status: int = 500,
        times: int | None = 1,
        retry_after: int | None = None,
        reason: str | None = None,
        message: str | None = None,
        after: int = 0,
        stall: float | None = None,
    ) -> Fault:
        """Fail the next ``times`` requests whose method matches and whose path matches ``path_regex``.

        ``path_regex`` is searched (``re.search``) in the URL path without the query string; the first
        ``after`` matching requests are served normally (e.g. ``after=1``: fail the second list of a kind).
        With ``stall`` the request is held that many seconds (``math.inf``: until the client hangs up) and then
        served normally; ``status`` is not used.
        """
        fault = Fault(
            method=method.upper() if method else None,
            path_regex=re.compile(path_regex),
            status=status,
            times=times,
            retry_after=retry_after,
            reason=reason,
            message=message,
            after=after,
            stall=stall,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def match(self, method: str, path: str) -> Fault | None:
        """Find, count and return the fault for this request, or None to serve it normally."""
        with self._lock:
            for fault in self._faults:
                if fault.exhausted:
                    continue
                if fault.method is not None and fault.method != method.upper():
                    continue
                if not fault.path_regex.search(path):
                    continue
                if fault.passed < fault.after:
                    fault.passed += 1
                    continue
                fault.hits += 1
                fault.matched.append(f"{method.upper()} {path}")
                return fault
        return None


async def hold_stalled(fault: Fault, request: Any, stopping: Callable[[], bool]) -> bool:
    """Wait out a stall of an aiohttp request: True to serve it now, False when the client hung up (or the
    server stops) first, so there is nobody to answer."""
    assert fault.stall is not None
    loop = asyncio.get_running_loop()
    until = loop.time() + fault.stall
    fault.held += 1
    try:
        while (left := until - loop.time()) > 0:
            transport = getattr(request, "transport", None)
            if transport is None or transport.is_closing() or stopping():
                return False
            await asyncio.sleep(min(0.05, left))
    finally:
        fault.held -= 1
    return True
