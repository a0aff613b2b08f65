"""Schedule ticks (logic.schedule): cron and time zone checks, the CronJob catch-up rule, tick names."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchyard.config import Options
from switchyard.k8s.triggers.clock import file_clock
from switchyard.logic import naming
from switchyard.logic.schedule import ScheduleInvalid, compile_schedule, plan, tick_name
from switchyard.logic.triggerargs import tick_arguments
from switchyard.logic.triggers import EventRejected
from switchyard.models.trigger import ScheduleSpec

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def spec(cron: str = "*/5 * * * *", **kw: object) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"cron": cron, **kw})


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("* * * *", None, "4 fields, want 5"),
        ("0 0 0 * * *", None, "6 fields, want 5"),
        ("61 * * * *", None, "cron '61 * * * *'"),
        ("@fortnightly", None, "unknown macro"),
        ("0 3 * * *", "Mars/Olympus", "timeZone 'Mars/Olympus' is not a known IANA time zone"),
        ("0 3 * * *", "../etc/passwd", "is not a known IANA time zone"),
    ],
)
def test_a_bad_cron_or_time_zone_is_refused_with_what_is_wrong(cron: str, zone: str | None, message: str) -> None:
    with pytest.raises(ScheduleInvalid) as caught:
        compile_schedule(spec(cron, timeZone=zone))
    assert message in str(caught.value)


def test_macros_and_time_zones_across_a_dst_change() -> None:
    assert compile_schedule(spec("@hourly")).next_after(T0) == T0 + timedelta(hours=1)
    paris = compile_schedule(spec("30 2 * * *", timeZone="Europe/Paris"))
    # 2026-03-29: 02:30 does not exist in Paris (clocks jump 02:00 -> 03:00); the tick runs at 03:00 CEST
    tick = paris.next_after(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert tick == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert paris.next_after(datetime(2026, 1, 10, tzinfo=UTC)) == datetime(2026, 1, 10, 1, 30, tzinfo=UTC)
    # 2026-10-25: 02:30 happens twice in Paris (03:00 CEST -> 02:00 CET); the tick runs once
    first = paris.next_after(datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert paris.next_after(first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_nothing_is_due_before_the_first_tick_after_creation() -> None:
    schedule = compile_schedule(spec())
    created = T0 + timedelta(seconds=30)
    tick = plan(schedule, spec(), None, created, T0 + timedelta(minutes=4))
    assert (tick.due, tick.missed, tick.next_tick) == (None, None, T0 + timedelta(minutes=5))
    assert plan(schedule, spec(), None, created, T0 + timedelta(minutes=5)).due == T0 + timedelta(minutes=5)


def test_after_downtime_only_the_latest_missed_tick_runs() -> None:
    schedule = compile_schedule(spec())
    tick = plan(schedule, spec(), T0, T0 - timedelta(days=1), T0 + timedelta(minutes=33))
    assert tick.due == T0 + timedelta(minutes=30)
    assert tick.next_tick == T0 + timedelta(minutes=35)
    # once started, nothing more until the next tick
    assert plan(schedule, spec(), tick.due, T0, T0 + timedelta(minutes=34)).due is None


def test_a_tick_later_than_the_starting_deadline_is_missed_not_run() -> None:
    late = spec(startingDeadlineSeconds=60)
    schedule = compile_schedule(late)
    on_time = plan(schedule, late, T0, T0, T0 + timedelta(minutes=5, seconds=59))
    assert on_time.due == T0 + timedelta(minutes=5)
    too_late = plan(schedule, late, T0, T0, T0 + timedelta(minutes=6, seconds=1))
    assert (too_late.due, too_late.missed) == (None, T0 + timedelta(minutes=5))


def test_suspended_has_no_tick_and_no_next() -> None:
    suspended = spec(suspend=True)
    tick = plan(compile_schedule(suspended), suspended, T0, T0, T0 + timedelta(hours=1))
    assert (tick.due, tick.next_tick) == (None, None)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["*/5 * * * *", "0 * * * *", "15 3 * * 1", "0 0 29 2 *"]),
)
def test_at_most_one_tick_per_plan_never_in_the_future_never_before_the_last(
    last_offset: int, now_offset: int, cron: str
) -> None:
    schedule = compile_schedule(spec(cron))
    last = T0 + timedelta(minutes=last_offset)
    now = last + timedelta(minutes=now_offset)
    tick = plan(schedule, spec(cron), last, T0, now)
    assert tick.next_tick is not None and tick.next_tick > now
    if tick.due is not None:
        assert last < tick.due <= now
        assert plan(schedule, spec(cron), tick.due, T0, now).due is None  # started: nothing else due now


def test_tick_names_are_deterministic_labels() -> None:
    tick = datetime(2026, 12, 2, 20, 5, tzinfo=UTC)
    assert tick_name("nightly", tick) == "nightly-s202612022005"
    long = tick_name("x" * 80, tick)
    assert len(long) <= naming.MAX_LABEL and naming.is_subdomain(long) and "." not in long
    assert long.endswith("-s202612022005")


def test_a_tick_evaluates_literal_arguments_and_refuses_one_that_reads_the_event() -> None:
    assert tick_arguments({"kind": '"nightly"', "n": "1 + 2", "on": "true"}) == {
        "kind": "nightly",
        "n": "3",
        "on": "true",
    }
    assert tick_arguments({}) == {}
    with pytest.raises(EventRejected) as refused:
        tick_arguments({"kind": '"nightly"', "who": "event.data.customer"})
    assert (refused.value.status, refused.value.reason) == (422, "ArgumentError")
    assert "arguments.who could not be evaluated for a schedule tick (a tick has no event)" in refused.value.message


def test_the_test_clock_file_is_an_option_and_its_clock_reads_the_file(tmp_path: pathlib.Path) -> None:
    assert Options.from_args([]).test_clock_file is None
    path = tmp_path / "clock"
    assert Options.from_args(["--test-clock-file", str(path)]).test_clock_file == str(path)
    clock = file_clock(str(path))
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 5  # no file: the real time
    path.write_text("2030-01-02T03:04:05Z")
    assert clock() == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
