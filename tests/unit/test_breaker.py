"""Unit tests of `switchyard.logic.breaker`: the Closed/Open/HalfOpen state machine and its messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchyard.logic.breaker import Admission, admit, describe_transition, record_failure, record_success
from switchyard.models.component import BreakerStatus, CircuitBreakerPolicy, FailureRecord

T0 = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = CircuitBreakerPolicy(failure_threshold=3, open_seconds=60, half_open_max_runs=2)


def failure(node: str = "n", at: datetime = T0) -> FailureRecord:
    return FailureRecord(workflow="wf", node=node, reason="BackoffLimitExceeded", time=at)


def opened(at: datetime = T0) -> BreakerStatus:
    return BreakerStatus(state="Open", consecutive_failures=3, opened_at=at)


def test_admission_values() -> None:
    assert [a.value for a in Admission] == ["Run", "Trial", "Reject"]
    assert str(Admission.RUN) == "Run"


def test_closed_runs_and_is_unchanged() -> None:
    state = BreakerStatus()
    decision, new = admit(state, POLICY, T0)
    assert decision is Admission.RUN
    assert new == state


def test_closed_opens_at_the_threshold() -> None:
    state = BreakerStatus()
    for i in range(1, 3):
        state = record_failure(state, POLICY, T0, failure(f"n{i}"))
        assert (state.state, state.consecutive_failures, state.opened_at) == ("Closed", i, None)
    assert state.last_failure == failure("n2")
    state = record_failure(state, POLICY, T0 + timedelta(seconds=5), failure("n3"))
    assert (state.state, state.consecutive_failures) == ("Open", 3)
    assert state.opened_at == T0 + timedelta(seconds=5)
    assert state.last_failure == failure("n3")


def test_success_resets_the_streak() -> None:
    state = record_failure(BreakerStatus(), POLICY, T0, failure())
    state = record_failure(state, POLICY, T0, failure())
    state = record_success(state, POLICY, T0)
    assert (state.state, state.consecutive_failures) == ("Closed", 0)
    state = record_failure(state, POLICY, T0, failure())
    assert (state.state, state.consecutive_failures) == ("Closed", 1)


def test_open_rejects_until_the_open_period_ends() -> None:
    state = opened()
    decision, new = admit(state, POLICY, T0 + timedelta(seconds=59.9))
    assert decision is Admission.REJECT
    assert new == state


def test_open_becomes_half_open_and_admits_trials_up_to_the_limit() -> None:
    now = T0 + timedelta(seconds=60)
    decision, state = admit(opened(), POLICY, now)
    assert decision is Admission.TRIAL
    assert (state.state, state.half_open_runs) == ("HalfOpen", 1)
    decision, state = admit(state, POLICY, now)
    assert decision is Admission.TRIAL
    assert state.half_open_runs == 2
    decision, after = admit(state, POLICY, now + timedelta(hours=1))
    assert decision is Admission.REJECT
    assert after == state


def test_open_without_opened_at_is_not_stuck() -> None:
    decision, state = admit(BreakerStatus(state="Open"), POLICY, T0)
    assert decision is Admission.TRIAL
    assert state.state == "HalfOpen"


def test_half_open_success_closes() -> None:
    _, state = admit(opened(), POLICY, T0 + timedelta(seconds=61))
    closed = record_success(state, POLICY, T0 + timedelta(seconds=70))
    assert closed.state == "Closed"
    assert (closed.consecutive_failures, closed.half_open_runs, closed.opened_at) == (0, 0, None)
    assert admit(closed, POLICY, T0)[0] is Admission.RUN


def test_half_open_failure_reopens() -> None:
    later = T0 + timedelta(seconds=61)
    _, state = admit(opened(), POLICY, later)
    reopened = record_failure(state, POLICY, later, failure("trial"))
    assert (reopened.state, reopened.opened_at, reopened.half_open_runs) == ("Open", later, 0)
    assert reopened.consecutive_failures == 4
    assert reopened.last_failure == failure("trial")
    assert admit(reopened, POLICY, later + timedelta(seconds=30))[0] is Admission.REJECT
    assert admit(reopened, POLICY, later + timedelta(seconds=60))[0] is Admission.TRIAL


def test_open_failure_stays_open() -> None:
    state = record_failure(opened(), POLICY, T0 + timedelta(seconds=10), failure("late"))
    assert (state.state, state.opened_at, state.consecutive_failures) == ("Open", T0, 4)
    assert state.last_failure == failure("late")


def test_functions_never_mutate() -> None:
    state = opened()
    snapshot = state.model_copy(deep=True)
    admit(state, POLICY, T0 + timedelta(hours=1))
    record_failure(state, POLICY, T0, failure())
    record_success(state, POLICY, T0)
    assert state == snapshot


def test_describe_transition() -> None:
    closed = BreakerStatus()
    open_ = BreakerStatus(state="Open", consecutive_failures=5, opened_at=T0)
    half = BreakerStatus(state="HalfOpen", consecutive_failures=5, opened_at=T0, half_open_runs=1)
    assert describe_transition(closed, open_) == "Closed -> Open after 5 consecutive failures"
    assert describe_transition(closed, open_.model_copy(update={"consecutive_failures": 1})) == (
        "Closed -> Open after 1 consecutive failure"
    )
    assert describe_transition(open_, half) == "Open -> HalfOpen: open period elapsed, allowing trial runs"
    assert describe_transition(half, open_) == "HalfOpen -> Open: a trial run failed"
    assert describe_transition(half, closed) == "HalfOpen -> Closed: a trial run succeeded"
    assert describe_transition(open_, closed) == "Open -> Closed"
    assert describe_transition(closed, closed.model_copy(update={"consecutive_failures": 2})) is None
