"""When to check an ArtifactStore's bucket again: on a steady interval while it is Ready, with capped
exponential backoff (1 s, 2 s, 4 s...) while it is not."""

from __future__ import annotations

FIRST_RETRY_SECONDS = 1.0


def recheck_delay(failures: int, interval: float, backoff_cap: float) -> float:
    """Seconds until the next check after `failures` failed checks in a row (0: the last one succeeded)."""
    if failures <= 0:
        return interval
    exponent = min(failures - 1, 32)  # 2 ** 32 s is past any sane cap: no overflow for long outages
    return min(FIRST_RETRY_SECONDS * 2.0**exponent, backoff_cap)
