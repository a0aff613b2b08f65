"""The operator drops kopf's per-event "Handler 'x' succeeded." lines and keeps everything else; its event loop."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from switchyard.__main__ import QuietEventHandlers, event_loop


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


def test_only_successful_event_handler_lines_are_dropped() -> None:
    quiet = QuietEventHandlers()
    assert not quiet.filter(record(logging.INFO, "Handler 'job_changed' succeeded."))
    assert quiet.filter(record(logging.INFO, "Daemon 'run_workflow' succeeded."))
    assert quiet.filter(record(logging.INFO, "Activity 'configure' succeeded."))
    assert quiet.filter(record(logging.ERROR, "Handler 'job_changed' failed with an exception and will try again"))
    assert quiet.filter(record(logging.WARNING, "Handler 'job_changed' succeeded."))
    assert quiet.filter(record(logging.INFO, "resumed workflow at 3/10"))


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not support Windows; asyncio's loop runs there")
def test_the_event_loop_is_uvloops() -> None:
    import uvloop  # a dependency everywhere else (pyproject.toml): missing, the test fails

    with event_loop() as loop:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    assert loop.is_closed()
