"""The circuit breakers of Components: a pure Closed/Open/HalfOpen state machine and the book that holds them.

The state machine functions return a new `BreakerStatus` and never mutate their argument. `BreakerBook` is
the one place breaker state lives while the operator runs (per namespace); `switchyard.k8s.breakers`
persists what it marks dirty to `Component.status` and seeds it back after a restart.

HalfOpen trial runs are tracked by (workflow, node), so a slot is released on every way a trial can end: a
result (success closes, failure re-opens), a run that ends without one (deadline, deleted Workflow,
refused Job), or a trial no runner has claimed for `STALE_TRIAL_SECONDS` (e.g. the operator restarted
between persisting the admission and recording the node as running).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from switchyard.models.component import BreakerStatus, CircuitBreakerPolicy, FailureRecord, TrialRun

STALE_TRIAL_SECONDS = 120.0  # > 3 resyncs of a running Workflow: a live trial is claimed far more often


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


def elapse(state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime) -> BreakerStatus:
    """An Open breaker whose open period has passed is HalfOpen, whether or not a run asks for it.

    An Open breaker without `openedAt` (only a hand-edited status has one) counts as elapsed rather than
    stuck forever.
    """
    if state.state != "Open":
        return state
    until = reopens_at(state, policy)
    if until is not None and now < until:
        return state
    return _with(state, state="HalfOpen", half_open_runs=0, trials=[])


def admit(
    state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime, trial: TrialRun | None = None
) -> tuple[Admission, BreakerStatus]:
    """Decide whether one run may start now, and the breaker state after that decision.

    An Open breaker whose open period has elapsed becomes HalfOpen first (`elapse`).
    A TRIAL takes a slot, recorded as `trial` when given.
    """
    if state.state == "Closed":
        return Admission.RUN, state
    state = elapse(state, policy, now)
    if state.state == "Open":
        return Admission.REJECT, state
    if state.half_open_runs < policy.half_open_max_runs:
        trials = [*state.trials, trial] if trial is not None else state.trials
        return Admission.TRIAL, _with(state, half_open_runs=state.half_open_runs + 1, trials=trials)
    return Admission.REJECT, state


def record_success(state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime) -> BreakerStatus:
    """A run succeeded: the failure streak ends; a HalfOpen breaker closes."""
    if state.state == "HalfOpen":
        return _with(state, state="Closed", consecutive_failures=0, half_open_runs=0, opened_at=None, trials=[])
    return _with(state, consecutive_failures=0)


def record_failure(
    state: BreakerStatus, policy: CircuitBreakerPolicy, now: datetime, failure: FailureRecord
) -> BreakerStatus:
    """A run failed: Closed opens at the threshold, a failed HalfOpen trial re-opens, Open stays open."""
    failures = state.consecutive_failures + 1
    opens = state.state == "HalfOpen" or (state.state == "Closed" and failures >= policy.failure_threshold)
    if opens:
        return _with(
            state,
            state="Open",
            consecutive_failures=failures,
            opened_at=now,
            half_open_runs=0,
            trials=[],
            last_failure=failure,
        )
    return _with(state, consecutive_failures=failures, last_failure=failure)


def release(state: BreakerStatus, workflow: str, node: str) -> BreakerStatus:
    """A trial run ended without a verdict (deadline, deletion, refused Job): its slot is free again."""
    kept = [t for t in state.trials if (t.workflow, t.node) != (workflow, node)]
    if len(kept) == len(state.trials) or state.state != "HalfOpen":
        return state
    return _with(state, trials=kept, half_open_runs=max(0, state.half_open_runs - 1))


def reset(state: BreakerStatus) -> BreakerStatus:
    """The component changed: whatever the old spec did says nothing about the new one."""
    return _with(state, state="Closed", consecutive_failures=0, opened_at=None, half_open_runs=0, trials=[])


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


TrialKey = tuple[str, str, str]  # (component, workflow, node)


class BreakerBook:
    """The circuit breakers of one namespace's components: state, counters, trials and what to persist.

    Pure (no I/O, time passed in). `dirty` names the components whose status must be written;
    `transitions` holds (component, message) pairs for Events.
    """

    def __init__(self) -> None:
        self.states: dict[str, BreakerStatus] = {}
        self.runs: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.dirty: set[str] = set()
        self.transitions: list[tuple[str, str]] = []  # (component, "Closed -> Open ...")
        self.claimed: dict[TrialKey, datetime] = {}  # trial -> when a runner last said it is still running

    def load(
        self, component: str, state: BreakerStatus, runs: int = 0, failures: int = 0, now: datetime | None = None
    ) -> None:
        """Seed from persisted status (never overwrites what this process already knows).

        Persisted trials count as claimed at `now`: their runners get `STALE_TRIAL_SECONDS` to claim them.
        """
        if component in self.states:
            return
        self.states[component] = state
        self.runs[component] = runs
        self.failures[component] = failures
        if now is not None:
            for trial in state.trials:
                self.claimed[(component, trial.workflow, trial.node)] = now

    def state(self, component: str) -> BreakerStatus:
        found = self.states.get(component)
        if found is None:
            found = self.states[component] = BreakerStatus()
        return found

    def _set(self, component: str, new: BreakerStatus, why: str | None = None) -> None:
        old = self.state(component)
        self.states[component] = new
        if new != old:
            self.dirty.add(component)
        live = {(t.workflow, t.node) for t in new.trials}
        for key in [k for k in self.claimed if k[0] == component and (k[1], k[2]) not in live]:
            del self.claimed[key]
        change = describe_transition(old, new)
        if change and why:
            change = f"{old.state} -> {new.state}: {why}"
        if change:
            self.transitions.append((component, change))

    def admit(self, component: str, policy: CircuitBreakerPolicy, now: datetime, workflow: str, node: str) -> Admission:
        self.expire_stale(component, now)
        trial = TrialRun(workflow=workflow, node=node, started_at=now)
        decision, new = admit(self.state(component), policy, now, trial)
        self._set(component, new)
        if decision == Admission.TRIAL:
            self.claimed[(component, workflow, node)] = now
        return decision

    def success(self, component: str, policy: CircuitBreakerPolicy, now: datetime, workflow: str, node: str) -> None:
        self.runs[component] = self.runs.get(component, 0) + 1
        self.dirty.add(component)
        state = record_success(self.state(component), policy, now)
        self._set(component, release(state, workflow, node))

    def failure(self, component: str, policy: CircuitBreakerPolicy, now: datetime, record: FailureRecord) -> None:
        self.runs[component] = self.runs.get(component, 0) + 1
        self.failures[component] = self.failures.get(component, 0) + 1
        self.dirty.add(component)
        self._set(component, record_failure(self.state(component), policy, now, record))

    def release(self, component: str, workflow: str, node: str) -> None:
        """The trial of (workflow, node), if any, ended without a verdict."""
        if component in self.states:
            self._set(component, release(self.states[component], workflow, node))

    def claim(self, workflow: str, running: Mapping[str, str], now: datetime) -> None:
        """A runner's word on its trials: `running` maps its running nodes to the component each runs.

        Trials of `workflow` whose node still runs that component are claimed (kept alive); the others
        ended without a result this book saw, and are released.
        """
        for component, state in list(self.states.items()):
            for trial in state.trials:
                if trial.workflow != workflow:
                    continue
                if running.get(trial.node) == component:
                    self.claimed[(component, workflow, trial.node)] = now
                else:
                    self.release(component, workflow, trial.node)

    def release_workflow(self, workflow: str) -> None:
        """The workflow finished or went away: none of its trials is running any more."""
        for component, state in list(self.states.items()):
            for trial in state.trials:
                if trial.workflow == workflow:
                    self.release(component, workflow, trial.node)

    def expire_stale(self, component: str, now: datetime) -> None:
        """Release trials nobody claimed for `STALE_TRIAL_SECONDS` (their runner is gone)."""
        state = self.states.get(component)
        if state is None:
            return
        horizon = now - timedelta(seconds=STALE_TRIAL_SECONDS)
        for trial in state.trials:
            seen = self.claimed.get((component, trial.workflow, trial.node))
            if seen is None:
                self.claimed[(component, trial.workflow, trial.node)] = now  # first sight: start the clock
            elif seen < horizon:
                self.release(component, trial.workflow, trial.node)

    def elapse(self, policies: Mapping[str, CircuitBreakerPolicy], now: datetime) -> None:
        """Turn every Open breaker whose open period has passed HalfOpen (a timer's tick: no run needed)."""
        for component, policy in policies.items():
            if component in self.states:
                self._set(component, elapse(self.states[component], policy, now))

    def next_reopen(self, policies: Mapping[str, CircuitBreakerPolicy], now: datetime) -> datetime | None:
        """The earliest time an Open breaker of `policies` turns HalfOpen (`now` when one is overdue)."""
        due = [
            reopens_at(state, policy) or now
            for component, policy in policies.items()
            if (state := self.states.get(component)) is not None and state.state == "Open"
        ]
        return min(due, default=None)

    def reset(self, component: str, why: str) -> None:
        """The component's spec changed: Closed again (counters of runs and failures are kept)."""
        if component in self.states:
            self._set(component, reset(self.states[component]), why)

    def forget(self, component: str) -> None:
        """The component was deleted: a component created later under this name starts Closed."""
        self.states.pop(component, None)
        self.runs.pop(component, None)
        self.failures.pop(component, None)
        self.dirty.discard(component)
        for key in [k for k in self.claimed if k[0] == component]:
            del self.claimed[key]

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def mark_all_dirty(self) -> None:
        """A write failed or was cut short: what it took may not be persisted, so every state is written again."""
        self.dirty.update(self.states)

    def take_transitions(self) -> list[tuple[str, str]]:
        out, self.transitions = self.transitions, []
        return out
