"""The Trigger engine's clocks: the real one, and the test-only one of `--test-clock-file`."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def file_clock(path: str) -> Callable[[], datetime]:
    """The test-only clock of `--test-clock-file`: the time written in the file, the real time without one."""

    def now() -> datetime:
        try:
            text = pathlib.Path(path).read_text().strip()
        except OSError:
            text = ""
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else utcnow()

    return now
