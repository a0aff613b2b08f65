"""Polling helpers for tests and benchmarks against the emulated cluster: wait, never sleep blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``predicate`` until it returns a truthy value (returned); TimeoutError after ``timeout`` seconds.

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
                return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate!r}") from last_error
        time.sleep(interval)


async def async_wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """``wait_for`` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
        except Exception as e:  # the state may be half-built while we poll: retry until the deadline
            last_error = e
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate!r}") from last_error
        await asyncio.sleep(interval)
