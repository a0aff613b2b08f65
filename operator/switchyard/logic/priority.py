"""Critical-path priorities for the ready queue: each node's bottom level over a `Dag`.

The bottom level of a node is the longest runtime-weighted path from it to a sink, its own runtime
included. Starting ready nodes in decreasing bottom level is critical-path (HLFET) list scheduling.
Pure and O(V + E); used by `logic.scheduler.WorkflowRun`.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchyard.logic.dag import Dag

DEFAULT_RUNTIME = 1.0  # seconds: the estimate of a node whose component gives none


def node_runtimes(dag: Dag, estimates: Mapping[str, float] | None, parallelism: int | None = None) -> dict[str, float]:
    """Node -> runtime estimate (seconds) from a component -> estimate mapping; unknown or invalid -> 1.

    A forEach node counts its instances (`fan_out_weight`): its component's estimate x count / maxParallel."""
    table = estimates or {}
    runtimes: dict[str, float] = {}
    for name, spec in dag.nodes.items():
        value = table.get(spec.component)
        estimate = float(value) if value is not None and value >= 0 else DEFAULT_RUNTIME
        if spec.for_each is not None:
            limit = min(filter(None, (spec.for_each.max_parallel, parallelism)), default=None)
            items = spec.for_each.items
            estimate = fan_out_weight(estimate, len(items) if items is not None else None, limit)
        runtimes[name] = estimate
    return runtimes


def fan_out_weight(estimate: float, count: int | None, max_parallel: int | None) -> float:
    """A forEach node's weight on the critical path: `estimate` x `count` / `max_parallel` (its instances run
    in waves of `max_parallel`), never less than one instance's `estimate` while there is one; 0 for an empty
    list. A count known only at run time (`fromNode`, `expression`) is taken as one wave: `estimate`. No cap
    known (`max_parallel` None): every instance at once, `estimate`."""
    if count is None:
        return estimate
    if count == 0:
        return 0.0
    if not max_parallel:
        return estimate
    return estimate * max(count, max_parallel) / max_parallel


def bottom_levels(dag: Dag, runtimes: Mapping[str, float]) -> dict[str, float]:
    """Node -> its runtime plus the longest runtime-weighted path below it (to any sink)."""
    levels: dict[str, float] = {}
    for name in reversed(dag.order):  # every dependent comes later in `order`: it is done first
        below = max((levels[child] for child in dag.dependents[name]), default=0.0)
        levels[name] = runtimes.get(name, DEFAULT_RUNTIME) + below
    return levels


__all__ = ["DEFAULT_RUNTIME", "bottom_levels", "fan_out_weight", "node_runtimes"]
