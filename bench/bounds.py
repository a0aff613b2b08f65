"""A lower bound on the makespan of a DAG on P workers, tighter than max(CP, work / P).

max(CP, work / P) ignores that precedence keeps work out of the start and the end of any schedule. The
window bound does not: a node v cannot start before its top level est(v) (the longest path of runtimes
ending at it) and must finish `tail(v)` before the end (the longest path after it). So in any schedule of
makespan T, for any θ1, θ2 >= 0, at least

    inside(v) = max(0, r(v) - max(0, θ1 - est(v)) - max(0, θ2 - tail(v)))

of v's runtime lies in the window [θ1, T - θ2], which P workers fill at most P (T - θ1 - θ2):

    T >= θ1 + θ2 + sum(inside) / P.

This holds when the sum is positive (then some v has est + r + tail > θ1 + θ2, so the window is not empty);
with nothing inside, it says nothing. The right side
peaks where θ1 is some est(v) and θ2 some tail(v); this takes up to `samples` of each, so it may miss
the peak slightly, never overstate it. Used by `bench/engine.py` to tell where 1.05 x max(CP, work / P)
cannot be reached by any schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def window_bound(
    order: Sequence[str],
    deps: Mapping[str, Sequence[str]],
    runtime: Mapping[str, float],
    workers: int,
    samples: int = 24,
) -> float:
    """The window lower bound (>= max(CP, work / workers)). `order` lists every node after its deps."""
    est: dict[str, float] = {}
    for node in order:
        est[node] = max((est[d] + runtime[d] for d in deps[node]), default=0.0)
    dependents: dict[str, list[str]] = {node: [] for node in order}
    for node in order:
        for dep in deps[node]:
            dependents[dep].append(node)
    tail: dict[str, float] = {}
    for node in reversed(order):
        tail[node] = max((runtime[c] + tail[c] for c in dependents[node]), default=0.0)
    critical = max(est[n] + runtime[n] + tail[n] for n in order)
    best = max(critical, sum(runtime.values()) / workers)
    for start in _spread(est.values(), samples):
        head = [(runtime[n] - max(0.0, start - est[n]), tail[n]) for n in order]
        head = [(left, t) for left, t in head if left > 0]
        for end in _spread(tail.values(), samples):
            inside = sum(max(0.0, left - max(0.0, end - t)) for left, t in head)
            if inside > 0:  # else nothing says the window [start, T - end] exists at all
                best = max(best, start + end + inside / workers)
    return best


def _spread(values: object, samples: int) -> list[float]:
    """0 and up to `samples` of the distinct values, evenly spread over their sorted order."""
    distinct = sorted(set(values))  # type: ignore[call-overload]
    if len(distinct) <= samples:
        return [0.0, *distinct]
    step = (len(distinct) - 1) / (samples - 1)
    return [0.0, *(distinct[round(i * step)] for i in range(samples))]
