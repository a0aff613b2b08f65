"""The per-key Event rate limiter behind `RuleSkipped` (issue 19.12): one per key per interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchyard.logic.ratelimit import MAX_KEYS, EventRateLimiter

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_one_event_per_key_per_interval_and_the_next_one_counts_what_was_held_back() -> None:
    limiter = EventRateLimiter(interval_seconds=60)
    assert limiter.allow("r", at(0)) == 0
    assert [limiter.allow("r", at(s)) for s in range(1, 20)] == [None] * 19
    assert limiter.allow("r", at(59.9)) is None
    assert limiter.allow("r", at(60)) == 20  # the 20 held back since the first
    assert limiter.allow("r", at(61)) is None
    assert limiter.allow("r", at(200)) == 1


def test_keys_are_limited_independently() -> None:
    limiter = EventRateLimiter(interval_seconds=60)
    assert limiter.allow(("ns", "a"), at(0)) == 0
    assert limiter.allow(("ns", "b"), at(1)) == 0
    assert limiter.allow(("other", "a"), at(2)) == 0
    assert limiter.allow(("ns", "a"), at(3)) is None


def test_quiet_keys_are_forgotten_once_there_are_many() -> None:
    limiter = EventRateLimiter(interval_seconds=60)
    for i in range(MAX_KEYS):
        limiter.allow(i, at(0))
    limiter.allow("recent", at(50))  # at the limit: nothing is quiet for an interval yet, all kept
    assert len(limiter.last) == MAX_KEYS + 1
    assert limiter.allow("new", at(100)) == 0
    assert set(limiter.last) == {"recent", "new"}
