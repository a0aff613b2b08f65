"""Critical-path priorities for the ready queue: each node's bottom level over a `Dag`.

The bottom level of a node is the longest runtime-weighted path from it to a sink, its own runtime
included. Starting ready nodes in decreasing bottom level is critical-path (HLFET) list scheduling.
Pure and O(V + E); used by `logic.scheduler.WorkflowRun`.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchyard.logic.dag import Dag

DEFAULT_RUNTIME = 1.0  # seconds: the estimate of a node whose component gives none


def node_runtimes(dag: Dag, estimates: Mapping[str, float] | None) -> dict[str, float]:
    """Node -> runtime estimate (seconds) from a component -> estimate mapping; unknown or invalid -> 1."""
    table = estimates or {}
    runtimes: dict[str, float] = {}
    for name, spec in dag.nodes.items():
        value = table.get(spec.component)
        runtimes[name] = float(value) if value is not None and value >= 0 else DEFAULT_RUNTIME
    return runtimes


def bottom_levels(dag: Dag, runtimes: Mapping[str, float]) -> dict[str, float]:
    """Node -> its runtime plus the longest runtime-weighted path below it (to any sink)."""
    levels: dict[str, float] = {}
    for name in reversed(dag.order):  # every dependent comes later in `order`: it is done first
        below = max((levels[child] for child in dag.dependents[name]), default=0.0)
        levels[name] = runtimes.get(name, DEFAULT_RUNTIME) + below
    return levels


__all__ = ["DEFAULT_RUNTIME", "bottom_levels", "node_runtimes"]
