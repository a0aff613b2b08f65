"""Component statistics, pure: a bounded window of recent runs, its failure rate and duration percentiles.

`record` folds one run into a `ComponentStats` (a new value; the argument is not changed). `StatsBook` holds a
namespace's statistics while the operator runs and marks what `switchyard.k8s.stats` must persist; the
statistics feed learned runtime estimates (`learned_estimates`). What counts as a run is the circuit
breaker's classification: a success, or a failure charged to the component (`JobResult.blame`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from switchyard.models.component import ComponentSpec
from switchyard.models.stats import WINDOW, ComponentStats, DurationStats, StatsWindow


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q` percentile (0 < q <= 1) of `values` (non-empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def durations(seconds: Sequence[float]) -> DurationStats | None:
    if not seconds:
        return None
    return DurationStats(p50=percentile(seconds, 0.5), p90=percentile(seconds, 0.9), p99=percentile(seconds, 0.99))


def record(stats: ComponentStats, succeeded: bool, seconds: float | None, now: datetime) -> ComponentStats:
    """`stats` after one more run: totals up, the window slides (at most `WINDOW` outcomes and durations).

    A success without a known run time (its Pod was gone) counts as a run but adds no duration."""
    outcomes = (stats.window.outcomes + ("S" if succeeded else "F"))[-WINDOW:]
    kept = list(stats.window.seconds)
    if succeeded and seconds is not None:
        kept = [*kept, round(max(0.0, seconds), 3)][-WINDOW:]
    return ComponentStats(
        runs=stats.runs + 1,
        failures=stats.failures + (0 if succeeded else 1),
        failure_rate=round(outcomes.count("F") / len(outcomes), 4),
        duration=durations(kept),
        last_updated=now.replace(microsecond=0),
        window=StatsWindow(outcomes=outcomes, seconds=kept),
    )


def learned_estimates(
    specs: Mapping[str, ComponentSpec], stats: Mapping[str, ComponentStats | None]
) -> dict[str, float]:
    """Component -> runtime estimate for the planner: `runtimeEstimateSeconds` where given, else the observed
    median run time (p50) where there is one; components with neither are left out (the planner's default)."""
    estimates: dict[str, float] = {}
    for name, spec in specs.items():
        if spec.runtime_estimate_seconds is not None:
            estimates[name] = spec.runtime_estimate_seconds
        elif (seen := stats.get(name)) is not None and seen.duration is not None:
            estimates[name] = seen.duration.p50
    return estimates


class StatsBook:
    """The statistics of one namespace's components while the operator runs; `dirty` names what to persist."""

    def __init__(self) -> None:
        self.stats: dict[str, ComponentStats] = {}
        self.dirty: set[str] = set()
        self.reset_for: dict[str, int] = {}  # component -> the generation its statistics were last reset for

    def load(self, component: str, persisted: ComponentStats | None) -> None:
        """Seed from status (never overwrites what this process already knows)."""
        if component not in self.stats:
            self.stats[component] = persisted or ComponentStats()

    def get(self, component: str) -> ComponentStats | None:
        return self.stats.get(component)

    def success(self, component: str, seconds: float | None, now: datetime) -> None:
        self._record(component, True, seconds, now)

    def failure(self, component: str, seconds: float | None, now: datetime) -> None:
        self._record(component, False, seconds, now)

    def _record(self, component: str, succeeded: bool, seconds: float | None, now: datetime) -> None:
        self.stats[component] = record(self.stats.get(component) or ComponentStats(), succeeded, seconds, now)
        self.dirty.add(component)

    def reset(self, component: str, generation: int) -> ComponentStats | None:
        """The spec changed (to `generation`): the old spec's runs say nothing about the new one. Returns what
        was forgotten; None when this generation was reset already (a second event of the same change)."""
        if self.reset_for.get(component) == generation:
            return None
        self.reset_for[component] = generation
        old = self.stats.get(component) or ComponentStats()
        self.stats[component] = ComponentStats()
        self.dirty.add(component)
        return old

    def forget(self, component: str) -> None:
        self.stats.pop(component, None)
        self.reset_for.pop(component, None)
        self.dirty.discard(component)

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def mark_dirty(self, components: Iterable[str]) -> None:
        self.dirty.update(name for name in components if name in self.stats)


__all__ = ["StatsBook", "durations", "learned_estimates", "percentile", "record"]
