"""A pure per-key event rate limiter: at most one Event per key per interval, counting what it held back.

Used for `RuleSkipped` (one RoutingRule that fails to evaluate for every input would otherwise post a
Warning per Workflow). Time is passed in; nothing here sleeps or posts.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_INTERVAL_SECONDS = 60.0
MAX_KEYS = 4096  # past this, keys quiet for a whole interval are forgotten (a deleted rule's, say)


@dataclass
class EventRateLimiter:
    """`allow(key, now)` says whether an Event for `key` may be posted now."""

    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    last: dict[Hashable, datetime] = field(default_factory=dict)  # key -> when its last Event was allowed
    held: dict[Hashable, int] = field(default_factory=dict)  # key -> Events held back since then

    def allow(self, key: Hashable, now: datetime) -> int | None:
        """None: hold this one back (one was allowed less than an interval ago). Otherwise post it: the
        number returned is how many were held back since the previous one, for its message."""
        previous = self.last.get(key)
        if previous is not None and now - previous < timedelta(seconds=self.interval_seconds):
            self.held[key] = self.held.get(key, 0) + 1
            return None
        if len(self.last) >= MAX_KEYS:
            self._forget_quiet(now)
        self.last[key] = now
        return self.held.pop(key, 0)

    def _forget_quiet(self, now: datetime) -> None:
        horizon = now - timedelta(seconds=self.interval_seconds)
        for key in [k for k, at in self.last.items() if at < horizon]:
            del self.last[key]
            self.held.pop(key, None)
