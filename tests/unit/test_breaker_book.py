"""The breaker book: HalfOpen trial slots are released on every way a trial ends (issue 7.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchyard.logic.breaker import STALE_TRIAL_SECONDS, Admission, BreakerBook
from switchyard.models.component import BreakerStatus, CircuitBreakerPolicy, FailureRecord, TrialRun

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CircuitBreakerPolicy(failure_threshold=1, open_seconds=10, half_open_max_runs=1)


def half_open_book() -> BreakerBook:
    book = BreakerBook()
    book.failure("c", POLICY, T0, FailureRecord(workflow="w0", node="n", reason="boom", time=T0))
    assert book.state("c").state == "Open"
    return book


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_trial_takes_the_slot_and_records_who_runs_it() -> None:
    book = half_open_book()
    assert book.admit("c", POLICY, later(11), "w1", "a") == Admission.TRIAL
    assert book.admit("c", POLICY, later(11), "w2", "b") == Admission.REJECT
    state = book.state("c")
    assert state.state == "HalfOpen" and state.half_open_runs == 1
    assert [(t.workflow, t.node) for t in state.trials] == [("w1", "a")]


def test_a_trial_that_ends_without_a_result_frees_its_slot() -> None:
    book = half_open_book()
    book.admit("c", POLICY, later(11), "w1", "a")
    book.claim("w1", {}, later(12))  # the runner no longer runs node a (deadline, refused Job ...)
    assert book.state("c").trials == [] and book.state("c").half_open_runs == 0
    assert book.admit("c", POLICY, later(13), "w2", "b") == Admission.TRIAL


def test_a_claimed_trial_stays_and_a_finished_workflow_releases_it() -> None:
    book = half_open_book()
    book.admit("c", POLICY, later(11), "w1", "a")
    book.claim("w1", {"a": "c"}, later(12))
    assert len(book.state("c").trials) == 1
    book.release_workflow("w1")
    assert book.state("c").trials == []


def test_a_trial_nobody_claims_goes_stale() -> None:
    book = half_open_book()
    book.admit("c", POLICY, later(11), "w1", "a")
    assert book.admit("c", POLICY, later(11 + STALE_TRIAL_SECONDS - 1), "w2", "b") == Admission.REJECT
    assert book.admit("c", POLICY, later(12 + STALE_TRIAL_SECONDS), "w2", "b") == Admission.TRIAL


def test_persisted_trials_get_a_fresh_clock_after_a_restart() -> None:
    """A restart between persisting an admission and recording the node: the trial is released in time."""
    persisted = BreakerStatus(
        state="HalfOpen", opened_at=T0, half_open_runs=1, trials=[TrialRun(workflow="gone", node="a", started_at=T0)]
    )
    book = BreakerBook()
    book.load("c", persisted, now=later(1000))
    assert book.admit("c", POLICY, later(1001), "w2", "b") == Admission.REJECT
    assert book.admit("c", POLICY, later(1001 + STALE_TRIAL_SECONDS + 1), "w2", "b") == Admission.TRIAL


def test_success_and_failure_of_the_trial_settle_the_breaker() -> None:
    book = half_open_book()
    book.admit("c", POLICY, later(11), "w1", "a")
    book.success("c", POLICY, later(12), "w1", "a")
    assert book.state("c").state == "Closed" and book.state("c").trials == []
    book = half_open_book()
    book.admit("c", POLICY, later(11), "w1", "a")
    book.failure("c", POLICY, later(12), FailureRecord(workflow="w1", node="a", reason="boom", time=later(12)))
    assert book.state("c").state == "Open" and book.state("c").trials == []


def test_reset_closes_and_forget_drops() -> None:
    book = half_open_book()
    book.take_transitions()
    book.reset("c", "the component changed (generation 2)")
    assert book.state("c").state == "Closed" and book.state("c").consecutive_failures == 0
    assert book.take_transitions() == [("c", "Open -> Closed: the component changed (generation 2)")]
    assert book.runs["c"] == 1  # counters survive a reset
    book.forget("c")
    assert "c" not in book.states and "c" not in book.runs


def test_a_write_that_did_not_land_marks_every_state_for_the_next() -> None:
    book = half_open_book()
    book.success("d", POLICY, T0, "w1", "n")
    assert book.take_dirty() == {"c", "d"}
    assert book.take_dirty() == set()
    book.mark_all_dirty()
    assert book.take_dirty() == {"c", "d"}


def test_an_open_breaker_turns_half_open_at_open_seconds_without_a_run() -> None:
    """Issue 19.4: the open period ending is a transition of its own (Event, status, metric), not a side
    effect of the next run asking for admission."""
    book = half_open_book()
    book.take_dirty(), book.take_transitions()
    assert book.next_reopen({"c": POLICY}, later(1)) == later(10)
    book.elapse({"c": POLICY}, later(9.9))
    assert book.state("c").state == "Open" and book.take_dirty() == set() and book.take_transitions() == []
    book.elapse({"c": POLICY}, later(10))
    assert book.state("c").state == "HalfOpen" and book.take_dirty() == {"c"}
    assert book.take_transitions() == [("c", "Open -> HalfOpen: open period elapsed, allowing trial runs")]
    assert book.next_reopen({"c": POLICY}, later(10)) is None
    assert book.admit("c", POLICY, later(11), "w1", "a") == Admission.TRIAL


def test_next_reopen_is_the_earliest_open_breaker_and_ignores_unknown_ones() -> None:
    book = half_open_book()
    long = CircuitBreakerPolicy(failure_threshold=1, open_seconds=100)
    book.failure("d", long, later(5), FailureRecord(workflow="w0", node="n", reason="boom", time=later(5)))
    assert book.next_reopen({"c": POLICY, "d": long, "unknown": POLICY}, later(6)) == later(10)
    assert book.next_reopen({"d": long}, later(6)) == later(105)
    book.load("hand-edited", BreakerStatus(state="Open"))  # no openedAt: overdue now
    assert book.next_reopen({"hand-edited": POLICY}, later(6)) == later(6)
