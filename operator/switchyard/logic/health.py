"""Component health as routing sees it (pure): the `components` variable of RoutingRules and the expected cost
of a rule's `alternatives`.

Health comes from a Component's status (`status.breaker.state`, `status.stats`, see `from_status`) and the
breaker book; absent statistics are unknown: failureRate 0, durations 0 in CEL and "no p50" for costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchyard.logic.dag import DagNode

BREAKER_STATES = ("Closed", "Open", "HalfOpen")


@dataclass(frozen=True)
class ComponentHealth:
    """What routing knows of one Component. `p50`/`p90`/`p99` None: no statistics yet."""

    breaker: str = "Closed"
    failure_rate: float = 0.0
    runs: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    retry_limit: int = 2
    runtime_estimate: float | None = None
    admitting: bool = True  # False: HalfOpen with every trial slot taken (a node would fail CircuitOpen now)

    def cel(self) -> dict[str, Any]:
        """`components.NAME` as CEL sees it; an unknown duration is 0.0 (so comparisons never error)."""
        return {
            "breaker": self.breaker,
            "failureRate": float(self.failure_rate),
            "duration": {"p50": self.p50 or 0.0, "p90": self.p90 or 0.0, "p99": self.p99 or 0.0},
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def from_status(
    status: Mapping[str, Any] | None,
    breaker: str | None = None,
    retry_limit: int = 2,
    runtime_estimate: float | None = None,
    admitting: bool = True,
) -> ComponentHealth:
    """A Component's health from its status dict (camelCase, as the API holds it):
    `stats: {runs, failures, failureRate, duration: {p50, p90, p99}}` and `breaker.state`. `breaker`: a fresher
    state (the operator's breaker book) overriding the status; `admitting`: whether it would let a run start now
    (False: HalfOpen with its trial slots taken). Anything missing or malformed is unknown."""
    status = status if isinstance(status, Mapping) else {}
    stats = status.get("stats")
    stats = stats if isinstance(stats, Mapping) else {}
    duration = stats.get("duration")
    duration = duration if isinstance(duration, Mapping) else {}
    if breaker is None:
        found = status.get("breaker")
        breaker = found.get("state") if isinstance(found, Mapping) else None
    rate = _number(stats.get("failureRate"))
    runs = _number(stats.get("runs"))
    return ComponentHealth(
        breaker=breaker if breaker in BREAKER_STATES else "Closed",
        failure_rate=min(rate, 1.0) if rate is not None else 0.0,
        runs=int(runs) if runs is not None else 0,
        p50=_number(duration.get("p50")),
        p90=_number(duration.get("p90")),
        p99=_number(duration.get("p99")),
        retry_limit=retry_limit,
        runtime_estimate=runtime_estimate,
        admitting=admitting,
    )


def cel_components(health: Mapping[str, ComponentHealth]) -> dict[str, Any]:
    """The `components` variable: name -> {breaker, failureRate, duration: {p50, p90, p99}}."""
    return {name: item.cel() for name, item in health.items()}


# --- expected cost of alternatives -----------------------------------------------------------------------


def expected_attempts(failure_rate: float, retry_limit: int) -> float:
    """Attempts a node makes on average when each fails independently at `failure_rate`, with at most
    `retry_limit` retries after the first: 1 + f + f^2 + ... + f^limit."""
    f = min(max(failure_rate, 0.0), 1.0)
    if f >= 1.0:
        return float(retry_limit + 1)
    return (1.0 - f ** (retry_limit + 1)) / (1.0 - f)


def component_cost(health: ComponentHealth | None) -> tuple[float, str]:
    """(expected seconds, how) of one run of a component: its p50 (else runtimeEstimateSeconds, else 0) times
    its expected attempts; infinite while its breaker is Open, or HalfOpen with its trial slots taken (a node
    would fail CircuitOpen). An unknown component costs 0."""
    if health is None:
        return 0.0, "unknown component: 0s"
    if health.breaker == "Open":
        return math.inf, "breaker Open"
    if not health.admitting:
        return math.inf, "breaker HalfOpen, its trial runs taken"
    if health.p50 is not None:
        base, source = health.p50, "p50"
    elif health.runtime_estimate is not None:
        base, source = health.runtime_estimate, "estimate"
    else:
        base, source = 0.0, "no stats:"
    attempts = expected_attempts(health.failure_rate, health.retry_limit)
    cost = base * attempts
    if health.failure_rate > 0:
        return cost, f"{source} {base:g}s x {attempts:.2f} attempts (failureRate {health.failure_rate:.2f})"
    return cost, f"{source} {base:g}s"


@dataclass(frozen=True)
class AlternativeCost:
    """One alternative's estimate: `seconds` is inf when a breaker on it is Open."""

    index: int
    components: tuple[str, ...]
    seconds: float
    detail: str


def alternative_cost(
    index: int, nodes: Sequence[DagNode], deps: Mapping[str, Sequence[str]], health: Mapping[str, ComponentHealth]
) -> AlternativeCost:
    """The expected duration of a DAG (a path is a chain): its longest path of expected node costs.
    `nodes` in a topological order; `deps`: node -> the nodes it depends on."""
    finish: dict[str, float] = {}
    details: dict[str, str] = {}
    for node in nodes:
        cost, how = component_cost(health.get(node.component))
        details.setdefault(node.component, how)
        start = max((finish[dep] for dep in deps.get(node.name, ()) if dep in finish), default=0.0)
        finish[node.name] = start + cost
    total = max(finish.values(), default=0.0)
    detail = "; ".join(f"{name}: {how}" for name, how in details.items())
    return AlternativeCost(index, tuple(dict.fromkeys(n.component for n in nodes)), total, detail)


def cheapest(costs: Sequence[AlternativeCost]) -> AlternativeCost:
    """The lowest expected cost, ties (and all-infinite) by order."""
    return min(costs, key=lambda c: (c.seconds, c.index))


def describe_choice(costs: Sequence[AlternativeCost], chosen: AlternativeCost) -> str:
    """E.g. "alternative 2 of 2 (fallback: 3s) over 1 (primary: breaker Open)"."""

    def show(cost: AlternativeCost) -> str:
        seconds = "inf" if math.isinf(cost.seconds) else f"{cost.seconds:.3g}s"
        return f"{cost.index + 1} ({'->'.join(cost.components)}: {seconds}; {cost.detail})"

    others = [show(c) for c in costs if c.index != chosen.index]
    text = f"alternative {show(chosen)}"
    if math.isinf(chosen.seconds):
        text += " (every alternative has an Open breaker: the first is run)"
    return text + (f" over {', '.join(others)}" if others else "")
