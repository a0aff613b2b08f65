"""The circuit breaker of a Component as a pure state machine over `BreakerStatus` (Closed/Open/HalfOpen).

Every function returns a new status and never mutates its argument; the caller persists it in status.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from switchyard.models.component import BreakerStatus, CircuitBreakerPolicy, FailureRecord


class Admission(StrEnum):
    """Whether a node may start a Job of the component now."""

    RUN = "Run"  # breaker closed: run normally
    TRIAL = "Trial"  # breaker half-open: this run is one of the trial runs
    REJECT = "Reject"  # breaker open (or half-open with all trial runs taken): use the fallback or wait


def _with(status: BreakerStatus, /, **changes: Any) -> BreakerStatus:
    return status.model_copy(update=changes)


def reopens_at(state: BreakerStatus, policy: CircuitBreakerPolicy) -> datetime | None:
    """When an Open breaker turns HalfOpen (None when not Open or never opened): for requeue timers."""
    if state.state != "Open" or state.opened_at is None:
        return None
    return state.opened_at + timedelta(seconds=policy.open_seconds)


def admit(state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime) -> tuple[Admission, BreakerStatus]:
    """Decide whether one run may start now, and the breaker state after that decision.

    An Open breaker whose open period has elapsed becomes HalfOpen first (an Open breaker without
    `openedAt`, which only a hand-edited status has, counts as elapsed rather than stuck forever).
    """
    if state.state == "Closed":
        return Admission.RUN, state
    if state.state == "Open":
        until = reopens_at(state, policy)
        if until is not None and now < until:
            return Admission.REJECT, state
        state = _with(state, state="HalfOpen", half_open_runs=0)
    if state.half_open_runs < policy.half_open_max_runs:
        return Admission.TRIAL, _with(state, half_open_runs=state.half_open_runs + 1)
    return Admission.REJECT, state


def record_success(state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime) -> BreakerStatus:
    """A run succeeded: the failure streak ends; a HalfOpen breaker closes."""
    if state.state == "HalfOpen":
        return _with(state, state="Closed", consecutive_failures=0, half_open_runs=0, opened_at=None)
    return _with(state, consecutive_failures=0)


def record_failure(
    state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime, failure: FailureRecord
) -> BreakerStatus:
    """A run failed: Closed opens at the threshold, a failed HalfOpen trial re-opens, Open stays open."""
    failures = state.consecutive_failures + 1
    opens = state.state == "HalfOpen" or (state.state == "Closed" and failures >= policy.failure_threshold)
    if opens:
        return _with(
            state, state="Open", consecutive_failures=failures, opened_at=now, half_open_runs=0, last_failure=failure
        )
    return _with(state, consecutive_failures=failures, last_failure=failure)


def describe_transition(old: BreakerStatus, new: BreakerStatus) -> str | None:
    """A one-line Event message for a state change, or None when the state did not change."""
    if old.state == new.state:
        return None
    change = f"{old.state} -> {new.state}"
    if old.state == "Closed" and new.state == "Open":
        failures = new.consecutive_failures
        return f"{change} after {failures} consecutive failure{'s' if failures != 1 else ''}"
    if old.state == "Open" and new.state == "HalfOpen":
        return f"{change}: open period elapsed, allowing trial runs"
    if old.state == "HalfOpen" and new.state == "Open":
        return f"{change}: a trial run failed"
    if old.state == "HalfOpen" and new.state == "Closed":
        return f"{change}: a trial run succeeded"
    return change
