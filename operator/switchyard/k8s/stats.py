"""Component statistics on the cluster side: seeded from `Component.status.stats`, persisted back, exported.

The window and its numbers are pure (`switchyard.logic.stats`). Writes ride on the breaker flusher
(`switchyard.k8s.breakers.flush`): a component's statistics and breaker counters go out in one status patch,
at most once per `breakers.FLUSH_SECONDS`, however many of its Jobs finished meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from switchyard import metrics
from switchyard.k8s.entries import ComponentEntry
from switchyard.k8s.runtime import Runtime
from switchyard.logic.stats import StatsBook
from switchyard.models.stats import ComponentStats

Emit = Any  # (body, type, reason, message) -> None
_exported: dict[tuple[str, str], tuple[int, int]] = {}  # (namespace, component) -> (runs, failures) counted


def book(rt: Runtime, namespace: str) -> StatsBook:
    return rt.stats_books.setdefault(namespace, StatsBook())


def seed(rt: Runtime, namespace: str, entries: Mapping[str, ComponentEntry]) -> StatsBook:
    """Load persisted statistics of components this process has not seen yet (a restart continues them)."""
    found = book(rt, namespace)
    for name, entry in entries.items():
        if name not in found.stats:
            found.load(name, entry.status.stats)
            _exported.setdefault((namespace, name), _totals(found.stats[name]))
    return found


def current(rt: Runtime, entry: ComponentEntry) -> ComponentStats | None:
    """The component's statistics as this process knows them, else as its status has them."""
    found = rt.stats_books.get(entry.ref.namespace)
    known = found.get(entry.ref.name) if found is not None else None
    return known if known is not None else entry.status.stats


def wire(rt: Runtime, namespace: str, name: str) -> dict[str, Any]:
    """The `stats` part of a Component status patch ({} when this process keeps none for it)."""
    found = rt.stats_books.get(namespace)
    stats = found.get(name) if found is not None else None
    if stats is None:
        return {}
    # unset fields as null: a merge patch removes them (a reset's duration must not survive in status)
    return {"stats": stats.model_dump(mode="json", by_alias=True)}


def component_changed(rt: Runtime, entry: ComponentEntry, emit: Emit) -> None:
    """A new spec (generation) resets the statistics, as it resets the breaker; a Normal Event says so.
    The reset is persisted with the new `observedGeneration` (`k8s.components.reconcile_component`)."""
    observed = entry.status.observed_generation
    if observed is None or observed == entry.generation:
        return
    found = seed(rt, entry.ref.namespace, {entry.ref.name: entry})
    old = found.reset(entry.ref.name, entry.generation)
    if old is None:
        return
    export(entry.ref.namespace, entry.ref.name, found.stats[entry.ref.name])
    message = (
        f"statistics reset for the new spec (generation {entry.generation}): "
        f"forgot {old.runs} run{'s' if old.runs != 1 else ''} ({old.failures} failed)"
    )
    emit(entry.ref.body(), "Normal", "StatisticsReset", message)


def export(namespace: str, name: str, stats: ComponentStats) -> None:
    """Prometheus: runs/failures counters (what this process counted), failure rate and duration gauges."""
    runs, failures = _totals(stats)
    seen_runs, seen_failures = _exported.get((namespace, name), (0, 0))
    if runs >= seen_runs:
        metrics.COMPONENT_RUNS.labels(namespace, name).inc(runs - seen_runs)
    if failures >= seen_failures:
        metrics.COMPONENT_FAILURES.labels(namespace, name).inc(failures - seen_failures)
    _exported[(namespace, name)] = (runs, failures)  # after a reset: counting goes on from the new totals
    metrics.COMPONENT_FAILURE_RATE.labels(namespace, name).set(stats.failure_rate)
    if stats.duration is not None:
        for quantile, value in (("0.5", stats.duration.p50), ("0.9", stats.duration.p90), ("0.99", stats.duration.p99)):
            metrics.COMPONENT_DURATION.labels(namespace, name, quantile).set(value)
    else:
        for quantile in ("0.5", "0.9", "0.99"):
            with contextlib.suppress(KeyError):
                metrics.COMPONENT_DURATION.remove(namespace, name, quantile)


def component_deleted(rt: Runtime, namespace: str, name: str) -> None:
    if namespace in rt.stats_books:
        rt.stats_books[namespace].forget(name)
    _exported.pop((namespace, name), None)
    metrics.forget_component_stats(namespace, name)


def _totals(stats: ComponentStats) -> tuple[int, int]:
    return stats.runs, stats.failures
