"""Polling helpers for tests and benchmarks against the emulated cluster: wait, never sleep blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def _polls(predicate: Callable[[], T], timeout: float, what: str) -> Iterator[T | None]:
    """Yield the predicate's truthy result (then stop) or None ("not yet"); TimeoutError past the deadline.

    Exceptions from the predicate count as "not yet" until the deadline, then the last one is chained.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
        except Exception as e:  # the state may be half-built while we poll: retry until the deadline
            last_error = e
        else:
            if result:
                yield result
                return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate!r}") from last_error
        yield None


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``predicate`` until it returns a truthy value (returned); TimeoutError after ``timeout`` seconds."""
    for result in _polls(predicate, timeout, what):
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("unreachable")


async def async_wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """``wait_for`` for async tests: polls without blocking the event loop."""
    for result in _polls(predicate, timeout, what):
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError("unreachable")
