"""Unit tests of `switchyard.logic.conditions`: replace-or-append, transition times, truncation, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchyard.logic.conditions import MAX_CONDITION_MESSAGE, get_condition, progress, set_condition, truncate
from switchyard.models.common import Condition

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def test_append_then_replace_in_place() -> None:
    conditions = set_condition([], "Ready", "False", "Starting", "starting", T0, 1)
    conditions = set_condition(conditions, "Complete", "False", "Running", "", T0, 1)
    updated = set_condition(conditions, "Ready", "True", "Ready", "all good", T1, 2)
    assert [c.type for c in updated] == ["Ready", "Complete"]
    ready = get_condition(updated, "Ready")
    assert ready == Condition(
        type="Ready", status="True", reason="Ready", message="all good", last_transition_time=T1, observed_generation=2
    )
    assert get_condition(updated, "Complete") == conditions[1]
    assert get_condition(updated, "Missing") is None
    assert conditions[0].status == "False"  # the input is not mutated


def test_transition_time_moves_only_when_status_changes() -> None:
    conditions = set_condition([], "Ready", "False", "A", "a", T0, 1)
    same = set_condition(conditions, "Ready", "False", "B", "b", T1, 2)
    assert same[0].last_transition_time == T0
    assert (same[0].reason, same[0].message, same[0].observed_generation) == ("B", "b", 2)
    flipped = set_condition(same, "Ready", "True", "B", "b", T1, 2)
    assert flipped[0].last_transition_time == T1


def test_message_truncated_to_schema_max() -> None:
    assert MAX_CONDITION_MESSAGE == 32768
    conditions = set_condition([], "Failed", "True", "Boom", "x" * 40_000, T0, None)
    message = conditions[0].message
    assert len(message) == MAX_CONDITION_MESSAGE
    assert message.endswith("...")
    assert conditions[0].observed_generation is None


def test_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 5) == "ab..."
    assert truncate("abcdef", 2) == "ab"


def test_progress_counts_final_phases() -> None:
    phases = ["Succeeded", "FellBack", "Failed", "Skipped", "Running", "Pending", "Retrying"]
    assert progress(phases, 9) == "4/9"
    assert progress([], 0) == "0/0"
    assert progress(iter(["Succeeded"]), 1) == "1/1"
