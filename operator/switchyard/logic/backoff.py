"""Retry timing: exponential backoff delays and the retry budget of a component's RetryPolicy."""

from __future__ import annotations

from datetime import datetime, timedelta

from switchyard.models.component import Backoff, RetryPolicy


def retry_delay(backoff: Backoff, failed_attempt: int) -> float:
    """Seconds to wait after the `failed_attempt`-th attempt (1-based) failed.

    `min(initial * factor ** (failed_attempt - 1), max)`, computed without overflowing for huge attempts.
    """
    if failed_attempt < 1:
        raise ValueError(f"failed_attempt starts at 1, got {failed_attempt}")
    initial = float(backoff.initial_seconds)
    cap = float(backoff.max_seconds)
    try:
        delay = initial * float(backoff.factor) ** (failed_attempt - 1)
    except OverflowError:  # factor ** n beyond float range: the cap applies anyway
        return cap if initial > 0 else 0.0
    return min(delay, cap)


def next_retry_at(backoff: Backoff, failed_attempt: int, failed_at: datetime) -> datetime:
    """When the next attempt may start, given when the `failed_attempt`-th attempt failed."""
    return failed_at + timedelta(seconds=retry_delay(backoff, failed_attempt))


def can_retry(policy: RetryPolicy, attempts_made: int) -> bool:
    """Whether another attempt is allowed after `attempts_made` attempts (limit counts retries, not runs)."""
    return attempts_made <= policy.limit
