"""The lower bounds of bench/bounds.py: tighter than max(CP, work / P), never above a real schedule."""

from __future__ import annotations

import heapq
import random

from bench.bounds import ancestry_bound, lower_bound, pigeonhole_bound, window_bound


def schedule(order: list[str], deps: dict[str, list[str]], runtime: dict[str, float], workers: int, seed: int) -> float:
    rng = random.Random(seed)
    return list_schedule(order, deps, runtime, workers, {n: (rng.random(),) for n in order})


def list_schedule(
    order: list[str],
    deps: dict[str, list[str]],
    runtime: dict[str, float],
    workers: int,
    priority: dict[str, tuple[float, ...]],
) -> float:
    """A plain list scheduler (never idle while a node is ready, smallest priority first): the makespan."""
    waiting = {n: len(deps[n]) for n in order}
    dependents: dict[str, list[str]] = {n: [] for n in order}
    for n in order:
        for d in deps[n]:
            dependents[d].append(n)
    ready = [(priority[n], n) for n in order if waiting[n] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + runtime[name], name))
        now = running[0][0]
        while running and running[0][0] == now:
            _, name = heapq.heappop(running)
            for child in dependents[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (priority[child], child))
    return now


def test_a_fan_out_after_a_long_root_is_bounded_by_its_window() -> None:
    order = ["x", "y1", "y2", "y3", "y4"]
    deps = {"x": [], **{y: ["x"] for y in order[1:]}}
    runtime = {"x": 2.0, **{y: 1.0 for y in order[1:]}}
    assert max(3.0, sum(runtime.values()) / 2) == 3.0  # max(CP, work / P)
    assert window_bound(order, deps, runtime, 2) == 4.0  # what every schedule takes: x alone, then 4 on 2


def test_the_bound_is_never_above_a_schedule_and_exact_at_the_extremes() -> None:
    rng = random.Random(7)
    for trial in range(40):
        size = rng.randint(2, 14)
        order = [f"n{i}" for i in range(size)]
        deps = {n: sorted({f"n{j}" for j in range(i) if rng.random() < 0.3}) for i, n in enumerate(order)}
        runtime = {n: float(rng.randint(0, 9)) for n in order}
        if not any(runtime.values()):
            runtime["n0"] = 1.0
        for workers in (1, 2, 3):
            best = min(schedule(order, deps, runtime, workers, seed) for seed in range(30))
            for bound in (window_bound, ancestry_bound, pigeonhole_bound, lower_bound):
                value = bound(order, deps, runtime, workers)
                assert value <= best + 1e-9, (trial, workers, bound.__name__, value, best)
        assert window_bound(order, deps, runtime, 1) == sum(runtime.values())  # one worker: all the work
        critical = schedule(order, deps, runtime, size, 0)  # as many workers as nodes: the critical path
        assert window_bound(order, deps, runtime, size) >= critical - 1e-9


def test_more_long_nodes_than_workers_double_up_somewhere() -> None:
    """Three 1 s nodes on two workers take 2 s; max(CP, work / P) and the window say 1.5 s."""
    order = ["a", "b", "c"]
    deps: dict[str, list[str]] = {n: [] for n in order}
    runtime = dict.fromkeys(order, 1.0)
    assert window_bound(order, deps, runtime, 2) == 1.5
    assert pigeonhole_bound(order, deps, runtime, 2) == 2.0 == schedule(order, deps, runtime, 2, 0)


def test_a_join_waits_for_all_of_its_ancestors_work_and_is_followed_by_all_its_descendants() -> None:
    """x cannot start before its ancestors' 10 s of work is done on 2 workers (5 s), and after it ends its
    descendants' 9 s need 4.5 s: T >= 5 + 5 + 4.5, above the window bound (14)."""
    order = ["a", "b", "c", "x", "d", "e", "f", "g", "h"]
    deps = {"a": [], "b": [], "c": [], "x": ["a", "b", "c"], "d": ["x"], "e": ["x"], "f": ["e"], "g": ["x"], "h": ["x"]}
    runtime = {"a": 4.0, "b": 3.0, "c": 3.0, "x": 5.0, "d": 2.0, "e": 1.0, "f": 1.0, "g": 4.0, "h": 1.0}
    assert window_bound(order, deps, runtime, 2) == 14.0
    assert ancestry_bound(order, deps, runtime, 2) == 14.5 == lower_bound(order, deps, runtime, 2)
    assert min(schedule(order, deps, runtime, 2, seed) for seed in range(30)) >= 14.5
