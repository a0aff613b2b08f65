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

Two more bounds catch what the window misses (`lower_bound` is the best of the three):
- the **ancestry bound**: every ancestor of v ends before v starts and every descendant starts after v ends,
  so T >= max(est(v), work(ancestors) / P) + r(v) + max(tail(v), work(descendants) / P);
- the **pigeonhole bound** (P||Cmax's p_P + p_P+1, with heads and tails): of any j P + 1 nodes, some
  worker runs j + 1 one after another, so T >= min est + (the j + 1 smallest runtimes) + min tail over them.
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
    shape = _Shape(order, deps, runtime)
    est, tail = shape.est, shape.tail
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


def ancestry_bound(
    order: Sequence[str], deps: Mapping[str, Sequence[str]], runtime: Mapping[str, float], workers: int
) -> float:
    """max over v of max(est, ancestors' work / P) + r(v) + max(tail, descendants' work / P)."""
    shape = _Shape(order, deps, runtime)
    position = {node: i for i, node in enumerate(order)}
    weights = [runtime[node] for node in order]
    above = _reach(order, deps, position)  # node -> bit set of its ancestors (bit i: order[i])
    below = _reach(list(reversed(order)), shape.dependents, position)  # ... of its descendants
    best = 0.0
    for node in order:
        start = max(shape.est[node], _weight(above[node], weights) / workers)
        after = max(shape.tail[node], _weight(below[node], weights) / workers)
        best = max(best, start + runtime[node] + after)
    return best


def pigeonhole_bound(
    order: Sequence[str],
    deps: Mapping[str, Sequence[str]],
    runtime: Mapping[str, float],
    workers: int,
    depth: int = 4,
) -> float:
    """Of j P + 1 nodes (j = 1..depth) one worker runs j + 1: min est + their j + 1 smallest runtimes + min
    tail. The sets tried: the largest nodes by runtime, by est + r + tail, and by r + min(est, tail)."""
    shape = _Shape(order, deps, runtime)
    est, tail = shape.est, shape.tail
    rankings = (
        lambda n: runtime[n],
        lambda n: est[n] + runtime[n] + tail[n],
        lambda n: runtime[n] + min(est[n], tail[n]),
    )
    best = 0.0
    for key in rankings:
        ranked = sorted(order, key=key, reverse=True)
        for j in range(1, depth + 1):
            chosen = ranked[: j * workers + 1]
            if len(chosen) < j * workers + 1:
                break
            shortest = sorted(runtime[n] for n in chosen)[: j + 1]
            best = max(best, min(est[n] for n in chosen) + sum(shortest) + min(tail[n] for n in chosen))
    return best


def lower_bound(
    order: Sequence[str], deps: Mapping[str, Sequence[str]], runtime: Mapping[str, float], workers: int
) -> float:
    """The best of the window, ancestry and pigeonhole bounds."""
    return max(
        window_bound(order, deps, runtime, workers),
        ancestry_bound(order, deps, runtime, workers),
        pigeonhole_bound(order, deps, runtime, workers),
    )


class _Shape:
    """est (top level) and tail (longest path after) of every node, and its dependents."""

    def __init__(self, order: Sequence[str], deps: Mapping[str, Sequence[str]], runtime: Mapping[str, float]) -> None:
        self.dependents: dict[str, list[str]] = {node: [] for node in order}
        for node in order:
            for dep in deps[node]:
                self.dependents[dep].append(node)
        self.est: dict[str, float] = {}
        for node in order:
            self.est[node] = max((self.est[d] + runtime[d] for d in deps[node]), default=0.0)
        self.tail: dict[str, float] = {}
        for node in reversed(order):
            self.tail[node] = max((runtime[c] + self.tail[c] for c in self.dependents[node]), default=0.0)


def _reach(order: Sequence[str], links: Mapping[str, Sequence[str]], position: Mapping[str, int]) -> dict[str, int]:
    """Node -> the bit set of every node reachable through `links` (`order` lists each node after its links)."""
    reach: dict[str, int] = {}
    for node in order:
        bits = 0
        for other in links[node]:
            bits |= reach[other] | (1 << position[other])
        reach[node] = bits
    return reach


def _weight(bits: int, weights: Sequence[float]) -> float:
    total = 0.0
    while bits:
        low = bits & -bits
        total += weights[low.bit_length() - 1]
        bits ^= low
    return total


def _spread(values: object, samples: int) -> list[float]:
    """0 and up to `samples` of the distinct values, evenly spread over their sorted order."""
    distinct = sorted(set(values))  # type: ignore[call-overload]
    if len(distinct) <= samples:
        return [0.0, *distinct]
    step = (len(distinct) - 1) / (samples - 1)
    return [0.0, *(distinct[round(i * step)] for i in range(samples))]
