"""The order in which ready nodes start under a parallelism cap: a list schedule planned on the estimates.

When more nodes are ready than `parallelism` allows, the engine starts them in the order of a key per node.
Critical-path (HLFET) list scheduling, the key being each node's bottom level (`logic.priority`), is the
baseline; on the WfCommons DAGs it ends up to 1.09x above a proven lower bound where better schedules
exist (docs/benchmarks.md, issue 10 item 1). So each run plans once, on the runtime estimates, by
simulating the same list scheduler the engine is:

1. the critical-path list schedule. If the cap never held a ready node back, the order cannot matter: done.
2. **forward-backward improvement** (the "justification" of project scheduling): schedule the reversed
   DAG, latest-finishing node first in the last forward schedule, then schedule forward again in the order
   of the start times that backward schedule implies; repeat while the makespan shrinks. A backward pass
   packs the tail of the schedule tightly and lets the forward pass start early what the tail waits for.
3. the same improvement from the spec order, then from bottom levels perturbed at random (a fixed seed:
   a restarted operator plans the same), as far as a budget of simulated work goes (`PLAN_BUDGET`: node
   starts plus edge visits, so a dense DAG gets fewer passes; measured: at most ~0.5 s of CPU).

The shortest forward schedule wins, and a node's key is its start in it. Started in that order, the
engine's ready queue replays exactly that schedule when the runtimes match the estimates, so a run is
never slower than critical-path list scheduling on them. Pure: no I/O, deterministic.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from switchyard.logic.dag import Dag
from switchyard.logic.priority import bottom_levels

PLAN_BUDGET = 600_000  # simulated node starts and edge visits per plan, beyond the first schedule
RESTARTS = 16  # perturbed starting orders at most
JUSTIFY_ROUNDS = 4  # forward-backward rounds per starting order at most (they converge in 1-3)
PERTURBATION = 0.1  # a perturbed bottom level is the level times a uniform factor in [0.9, 1.1]

Key = tuple[float, int]


@dataclass
class Schedule:
    starts: list[float]  # by node index
    makespan: float
    held: bool  # whether the cap ever held a ready node back


class ListScheduler:
    """Non-delay list scheduling on P workers, by node index: what `WorkflowRun` does with ready nodes."""

    def __init__(self, dag: Dag, runtimes: Mapping[str, float], parallelism: int, max_passes: int = 0) -> None:
        self.names: list[str] = list(dag.nodes)
        index = {name: i for i, name in enumerate(self.names)}
        self.runtime = [float(runtimes[name]) for name in self.names]
        self.deps = [[index[d] for d in dag.deps[name]] for name in self.names]
        self.dependents = [[index[d] for d in dag.dependents[name]] for name in self.names]
        self.parallelism = parallelism
        self.passes = 0  # simulated schedules so far
        self.max_passes = max_passes  # a justification stops before it would pass this (0: no limit)

    def forward(self, keys: Sequence[Key]) -> Schedule:
        return self._run(keys, self.deps, self.dependents)

    def backward(self, keys: Sequence[Key]) -> Schedule:
        """The reversed DAG (every edge turned), scheduled from the end: `starts` are its own, from 0."""
        return self._run(keys, self.dependents, self.deps)

    def _run(self, keys: Sequence[Key], deps: list[list[int]], dependents: list[list[int]]) -> Schedule:
        self.passes += 1
        runtime, cap = self.runtime, self.parallelism
        waiting = [len(d) for d in deps]
        ready = [(keys[i], i) for i, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        running: list[tuple[float, int]] = []
        starts = [0.0] * len(runtime)
        now, held = 0.0, False
        while ready or running:
            while ready and len(running) < cap:
                _, i = heapq.heappop(ready)
                starts[i] = now
                heapq.heappush(running, (now + runtime[i], i))
            held = held or bool(ready)
            now = running[0][0]
            while running and running[0][0] == now:
                _, i = heapq.heappop(running)
                for child in dependents[i]:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        heapq.heappush(ready, (keys[child], child))
        return Schedule(starts, now, held)

    def keys(self, schedule: Schedule) -> list[Key]:
        """Start times as keys (ties by spec order): the forward pass with them replays `schedule`."""
        return [(start, i) for i, start in enumerate(schedule.starts)]

    def justify(self, schedule: Schedule) -> Schedule:
        """Forward-backward improvement from a forward schedule, while it shortens; the best forward one."""
        best = schedule
        for _ in range(JUSTIFY_ROUNDS):
            if self.max_passes and self.passes + 2 > self.max_passes:
                break
            finish = [s + r for s, r in zip(best.starts, self.runtime, strict=True)]
            back = self.backward([(-f, -i) for i, f in enumerate(finish)])  # latest finish first
            starts = [back.makespan - s - r for s, r in zip(back.starts, self.runtime, strict=True)]
            again = self.forward([(s, i) for i, s in enumerate(starts)])
            if again.makespan >= best.makespan - 1e-9:
                break
            best = again
        return best


def plan_keys(dag: Dag, runtimes: Mapping[str, float], parallelism: int, budget: int = PLAN_BUDGET) -> dict[str, Key]:
    """Node -> its ready-queue key (smaller starts first): see the module doc."""
    return planned(dag, runtimes, parallelism, budget)[0]


def planned(
    dag: Dag, runtimes: Mapping[str, float], parallelism: int, budget: int = PLAN_BUDGET
) -> tuple[dict[str, Key], int]:
    """`plan_keys`, and how many schedules it simulated."""
    levels = bottom_levels(dag, runtimes)
    names = list(dag.nodes)
    critical: list[Key] = [(-levels[name], i) for i, name in enumerate(names)]
    if parallelism >= len(names):
        return dict(zip(names, critical, strict=True)), 0
    edges = sum(len(deps) for deps in dag.deps.values())
    max_passes = max(3, 1 + budget // (len(names) + edges))  # one forward-backward round at least
    scheduler = ListScheduler(dag, runtimes, parallelism, max_passes)
    first = scheduler.forward(critical)
    if not first.held:
        return dict(zip(names, critical, strict=True)), scheduler.passes
    best = scheduler.justify(first)
    critical_path = max(levels.values())
    optimal = max(critical_path, sum(scheduler.runtime) / parallelism) * (1 + 1e-9)  # no schedule is shorter
    rng = random.Random(len(names))
    for attempt in range(1 + RESTARTS):
        if best.makespan <= optimal or scheduler.passes + 1 + 2 * JUSTIFY_ROUNDS > max_passes:
            break
        if attempt == 0:
            keys: list[Key] = [(float(i), i) for i in range(len(names))]  # the spec order
        else:
            keys = [(-levels[n] * rng.uniform(1 - PERTURBATION, 1 + PERTURBATION), i) for i, n in enumerate(names)]
        candidate = scheduler.justify(scheduler.forward(keys))
        if candidate.makespan < best.makespan - 1e-9:
            best = candidate
    if best is first:
        return dict(zip(names, critical, strict=True)), scheduler.passes
    return dict(zip(names, scheduler.keys(best), strict=True)), scheduler.passes


__all__ = ["PLAN_BUDGET", "ListScheduler", "Schedule", "plan_keys", "planned"]
