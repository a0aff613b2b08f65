"""The ArtifactStore re-check schedule: steady while Ready, capped exponential backoff while not."""

from __future__ import annotations

from switchyard.logic.storecheck import recheck_delay


def test_ready_stores_are_rechecked_on_the_interval() -> None:
    assert recheck_delay(0, interval=60, backoff_cap=30) == 60


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    assert [recheck_delay(n, interval=60, backoff_cap=30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert recheck_delay(10_000, interval=60, backoff_cap=30) == 30
