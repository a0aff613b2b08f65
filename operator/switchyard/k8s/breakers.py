"""Circuit breakers on the cluster side: seed the in-memory books from Component status, persist them back.

The state machine and the per-namespace book are pure (`switchyard.logic.breaker`); this module is the only
code that reads or writes breaker state in the API. One flusher task persists what a book marks dirty:
transitions right away, counters at most once per `FLUSH_SECONDS`, so thousands of node results do not
become thousands of patches. Every transition is an Event on the Component. The flusher is also the
breakers' timer: it wakes when an Open breaker's `openSeconds` are up and turns it HalfOpen, so status,
Event and metric change then, not when the next run happens to ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from switchyard import metrics
from switchyard.k8s import stats
from switchyard.k8s.entries import ComponentEntry
from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic import breaker
from switchyard.logic.breaker import BreakerBook
from switchyard.models.component import CircuitBreakerPolicy

Emit = Any  # (body, type, reason, message) -> None
FLUSH_SECONDS = 1.0
SHUTDOWN_FLUSH_SECONDS = 10.0
log = logging.getLogger("switchyard.breakers")


def book(rt: Runtime, namespace: str) -> BreakerBook:
    return rt.books.setdefault(namespace, BreakerBook())


def seed(rt: Runtime, namespace: str, entries: Mapping[str, ComponentEntry], now: datetime) -> BreakerBook:
    """Load persisted breaker state (and statistics, `k8s.stats`) for components this process has not seen yet."""
    stats.seed(rt, namespace, entries)
    found = book(rt, namespace)
    for name, entry in entries.items():
        if name not in found.states:
            found.load(name, entry.status.breaker, entry.status.runs, entry.status.failures, now)
            state = found.state(name).state
            metrics.BREAKER_STATE.labels(namespace, name).set(metrics.BREAKER_STATES[state])
    return found


def component_seen(rt: Runtime, entry: ComponentEntry, now: datetime) -> None:
    """A Component whose persisted breaker is not Closed is booked at once (e.g. after a restart), so its
    open period ends on time even when no Workflow uses it."""
    if entry.status.breaker.state == "Closed" or entry.ref.name in book(rt, entry.ref.namespace).states:
        return
    seed(rt, entry.ref.namespace, {entry.ref.name: entry}, now)
    rt.breaker_flush.set()  # the flusher recomputes when to wake


def policies(views: Views, namespace: str, names: Iterable[str]) -> dict[str, CircuitBreakerPolicy]:
    """The breaker policies of the named components that exist and have a valid spec."""
    found = {}
    for name in names:
        entry = views.component(namespace, name)
        if entry is not None and entry.spec is not None:
            found[name] = entry.spec.circuit_breaker
    return found


def states(rt: Runtime, views: Views, namespace: str, now: datetime) -> dict[str, tuple[str, bool]]:
    """The breaker states this process knows in a namespace, as of `now` (an Open breaker whose open period is
    over reads HalfOpen), by component: (what RoutingRules read as `components.NAME.breaker`, whether a run
    would be let in now: not when Open, or HalfOpen with every trial slot taken)."""
    found = rt.books.get(namespace)
    if found is None:
        return {}
    known = policies(views, namespace, found.states)
    seen: dict[str, tuple[str, bool]] = {}
    for name, state in found.states.items():
        policy = known.get(name)
        if policy is None:
            seen[name] = (state.state, state.state != "Open")
            continue
        state = breaker.elapse(state, policy, now)
        admitting = state.state == "Closed" or (
            state.state == "HalfOpen" and state.half_open_runs < policy.half_open_max_runs
        )
        seen[name] = (state.state, admitting)
    return seen


def elapse(rt: Runtime, views: Views, now: datetime) -> datetime | None:
    """Open breakers whose open period is over turn HalfOpen; when the next one will (None: none is Open)."""
    due: list[datetime] = []
    for namespace, found in list(rt.books.items()):
        known = policies(views, namespace, found.states)
        found.elapse(known, now)
        if found.dirty or found.transitions:
            rt.breaker_flush.set()
        nearest = found.next_reopen(known, now)
        if nearest is not None:
            due.append(nearest)
    return min(due, default=None)


def component_changed(rt: Runtime, entry: ComponentEntry, now: datetime) -> None:
    """A new spec (generation) resets the breaker: the old spec's failures say nothing about the new one."""
    observed = entry.status.observed_generation
    if observed is None or observed == entry.generation:
        return
    found = seed(rt, entry.ref.namespace, {entry.ref.name: entry}, now)
    found.reset(entry.ref.name, f"the component changed (generation {entry.generation})")
    rt.breaker_flush.set()


def component_deleted(rt: Runtime, namespace: str, name: str) -> None:
    if namespace in rt.books:
        rt.books[namespace].forget(name)
    metrics.forget_breaker(namespace, name)


async def flush(rt: Runtime, views: Views, emit: Emit) -> None:
    """Persist what changed in every namespace's book, with the component's statistics in the same patch;
    post Events for state transitions."""
    for namespace in sorted({*rt.books, *rt.stats_books}):
        found = book(rt, namespace)
        transitions = found.take_transitions()
        for name in sorted(found.take_dirty() | stats.book(rt, namespace).take_dirty()):
            status = stats.wire(rt, namespace, name)
            if name in found.states:
                state = found.state(name)
                metrics.BREAKER_STATE.labels(namespace, name).set(metrics.BREAKER_STATES[state.state])
                status["breaker"] = state.model_dump(mode="json", by_alias=True)
                status["runs"] = found.runs.get(name, 0)
                status["failures"] = found.failures.get(name, 0)
            if not status:
                continue
            await rt.api.patch_status("components", namespace, name, status)
            if (kept := stats.book(rt, namespace).get(name)) is not None:
                stats.export(namespace, name, kept)
        for name, change in transitions:
            entry = views.component(namespace, name)
            if entry is not None:
                opened = "-> Open" in change
                emit(entry.ref.body(), "Warning" if opened else "Normal", "CircuitBreaker", change)


async def flusher(rt: Runtime, views: Views, emit: Emit) -> None:
    """Flush whenever a book asks or an open period ends, at most once per `FLUSH_SECONDS`. Cancelled
    (shutdown), it flushes a last time, in its own context, where kopf's event poster is reachable."""
    flushing = False
    try:
        while True:
            await _wait(rt, elapse(rt, views, datetime.now(UTC)))
            elapse(rt, views, datetime.now(UTC))  # what came due while it waited
            rt.breaker_flush.clear()
            flushing = True
            try:
                await flush(rt, views, emit)
            except Exception:  # keep flushing later; the state is still in memory and marked dirty again below
                log.exception("persisting breaker state failed; will retry")
                _mark_all_dirty(rt)
                rt.breaker_flush.set()
            flushing = False
            await asyncio.sleep(FLUSH_SECONDS)
    except asyncio.CancelledError:
        if flushing:  # cut short: what it had taken from the books may not be written
            _mark_all_dirty(rt)
        await asyncio.wait_for(flush(rt, views, emit), timeout=SHUTDOWN_FLUSH_SECONDS)
        raise


async def _wait(rt: Runtime, due: datetime | None) -> None:
    """Until a book asks for a flush, or `due` (an open period's end) comes."""
    if due is None:
        await rt.breaker_flush.wait()
        return
    delay = max(0.0, (due - datetime.now(UTC)).total_seconds())
    with contextlib.suppress(TimeoutError):  # the open period ended: the caller turns it HalfOpen
        await asyncio.wait_for(rt.breaker_flush.wait(), timeout=delay)


def _mark_all_dirty(rt: Runtime) -> None:
    for found in rt.books.values():
        found.mark_all_dirty()
    for kept in rt.stats_books.values():
        kept.mark_dirty(kept.stats)
