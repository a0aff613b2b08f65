"""Unit tests of `switchyard.logic.backoff`: the delay table, the cap, huge attempts, the retry budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchyard.logic.backoff import can_retry, next_retry_at, retry_delay
from switchyard.models.component import Backoff, RetryPolicy


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 32.0), (7, 60.0), (8, 60.0), (100, 60.0)],
)
def test_delay_doubles_then_caps(attempt: int, delay: float) -> None:
    backoff = Backoff(initial_seconds=1, factor=2, max_seconds=60)
    assert retry_delay(backoff, attempt) == delay


def test_defaults() -> None:
    assert [retry_delay(Backoff(), n) for n in (1, 2, 3, 9, 10)] == [1.0, 2.0, 4.0, 256.0, 300.0]


def test_huge_attempts_do_not_overflow() -> None:
    backoff = Backoff(initial_seconds=0.5, factor=100, max_seconds=86400)
    assert retry_delay(backoff, 10**6) == 86400.0
    assert retry_delay(backoff, 10**30) == 86400.0


def test_factor_one_and_zero_initial() -> None:
    assert retry_delay(Backoff(initial_seconds=7, factor=1, max_seconds=60), 10**9) == 7.0
    assert retry_delay(Backoff(initial_seconds=0, factor=100, max_seconds=60), 10**9) == 0.0
    assert retry_delay(Backoff(initial_seconds=0, factor=2, max_seconds=0), 1) == 0.0


def test_max_below_initial_is_rejected() -> None:
    # issue 7 item 17: the cap below the first delay was silently applied; it is an input error now.
    with pytest.raises(ValueError, match=r"maxSeconds \(5\) must not be less than initialSeconds \(10\)"):
        Backoff(initial_seconds=10, factor=2, max_seconds=5)
    assert Backoff(initial_seconds=5, max_seconds=5).max_seconds == 5


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        retry_delay(Backoff(), 0)


def test_next_retry_at() -> None:
    failed_at = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    backoff = Backoff(initial_seconds=1.5, factor=2, max_seconds=300)
    assert next_retry_at(backoff, 3, failed_at) == failed_at + timedelta(seconds=6)
    assert next_retry_at(backoff, 3, failed_at).tzinfo is UTC


@pytest.mark.parametrize(("limit", "attempts", "allowed"), [(0, 1, False), (2, 1, True), (2, 2, True), (2, 3, False)])
def test_limit_counts_retries_after_the_first_attempt(limit: int, attempts: int, allowed: bool) -> None:
    assert can_retry(RetryPolicy(limit=limit), attempts) is allowed
