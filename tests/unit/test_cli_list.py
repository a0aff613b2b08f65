"""`switchyard list -o wide` prints every cell whole, as `kubectl get -o wide` does: a long line, never a cut name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.unit.test_cli_tree import diamond

from switchyard.cli import listing, main, view

NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)


def test_wide_cuts_no_cell_however_narrow_the_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = diamond()
    name = "every-minute-s202612030556-" + "x" * 40
    obj["metadata"].update(name=name, labels={"switchyard.dev/trigger": "every-minute", "team": "a" * 30})
    monkeypatch.setattr(main.out, "width", 80)
    listing.show_wide([view.build(obj)], [obj], NOW)
    lines = capsys.readouterr().out.splitlines()
    assert "…" not in "\n".join(lines)
    assert lines[0].split() == [
        "NAME", "PHASE", "PROGRESS", "ROUTE", "STARTED", "FINISHED", "DURATION", "NODES", "LABELS", "MESSAGE"
    ]  # fmt: skip
    row = lines[1]
    assert row.startswith(name + "  ") and f"switchyard.dev/trigger=every-minute,team={'a' * 30}" in row
    assert row.rstrip().endswith("node validate failed after 3 attempts")
