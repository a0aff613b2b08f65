"""The engine's slotted node record writes exactly what the `NodeStatus` schema model would write."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from switchyard.logic.nodestate import NodeState, wire_time
from switchyard.models.workflow import NodeStatus, WorkflowStatus

ZONES = st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
TIMES = st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=ZONES)
TEXT = st.none() | st.text(max_size=40) | st.text(min_size=1000, max_size=1300)


@given(
    phase=st.sampled_from(["Pending", "Running", "Retrying", "Succeeded", "Failed", "Skipped", "FellBack"]),
    attempts=st.integers(min_value=0, max_value=1000),
    job=st.none() | st.text(max_size=300),
    started=TIMES,
    finished=TIMES,
    retry=TIMES,
    reason=st.none() | st.text(max_size=200),
    message=TEXT,
    output=TEXT,
    fallback=st.none() | st.text(max_size=300),
)
def test_wire_is_what_the_status_model_writes(
    phase: str,
    attempts: int,
    job: str | None,
    started: datetime | None,
    finished: datetime | None,
    retry: datetime | None,
    reason: str | None,
    message: str | None,
    output: str | None,
    fallback: str | None,
) -> None:
    state = NodeState(phase, attempts, job, started, finished, retry, reason, message, output, fallback)  # type: ignore[arg-type]
    model = NodeStatus.model_construct(
        phase=phase,
        attempts=attempts,
        job=job,
        started_at=started,
        finished_at=finished,
        next_retry_at=retry,
        reason=reason,
        message=message,
        output=output,
        fallback=fallback,
    )
    assert state.wire() == model.model_dump(mode="json", by_alias=True)


@given(started=TIMES, message=TEXT)
def test_a_state_read_back_from_its_wire_form_is_the_same(started: datetime | None, message: str | None) -> None:
    state = NodeState("Retrying", 3, "wf-a-0-3-abc", started, None, started, "JobFailed", message, None, None)
    read = NodeState.of(WorkflowStatus.model_validate({"nodes": {"a": state.wire()}}).nodes["a"])
    assert read.wire() == state.wire()


def test_utc_is_written_with_a_z() -> None:
    assert wire_time(datetime(2026, 12, 1, 1, 2, 3, tzinfo=UTC)) == "2026-12-01T01:02:03Z"
    assert wire_time(datetime(2026, 12, 1, 1, 2, 3, 400000, tzinfo=UTC)) == "2026-12-01T01:02:03.400000Z"


def test_a_record_is_a_fraction_of_a_model() -> None:
    """Why the record exists: a run keeps one per node (20,000 at 1,000 Workflows x 20 nodes)."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    fields = {"phase": "Running", "attempts": 1, "job": "wf-a-0-1-abc", "started_at": now}
    model = NodeStatus(**fields)  # type: ignore[arg-type]
    state = NodeState(**fields)  # type: ignore[arg-type]
    model_bytes = sys.getsizeof(model) + sys.getsizeof(model.__dict__) + sys.getsizeof(model.__pydantic_fields_set__)
    assert not hasattr(state, "__dict__")
    assert sys.getsizeof(state) * 3 < model_bytes


def test_the_record_has_exactly_the_status_models_fields() -> None:
    """`NodeState.of` copies field by field name: a field added to one must be added to the other."""
    from dataclasses import fields

    assert [f.name for f in fields(NodeState)] == list(NodeStatus.model_fields)
