"""The planned ready order (`logic.plan`): never longer than critical-path list scheduling, replayed exactly
by the engine, better where critical-path order is not optimal, deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.test_bench_bounds import list_schedule
from tests.unit.test_priority import dag_of, run_to_end, weighted_dags

from switchyard.logic.plan import PLAN_BUDGET, ListScheduler, plan_keys, planned
from switchyard.logic.priority import bottom_levels


def hlfet(deps: dict[str, list[str]], runtime: dict[str, float], parallelism: int) -> float:
    """Textbook critical-path list scheduling, apart from the planner: longest path below first, then spec
    order; the makespan."""
    dependents: dict[str, list[str]] = {name: [] for name in deps}
    for name, node_deps in deps.items():
        for dep in node_deps:
            dependents[dep].append(name)
    level: dict[str, float] = {}
    for name in reversed(list(deps)):  # the spec lists every dependency first
        level[name] = runtime[name] + max((level[c] for c in dependents[name]), default=0.0)
    priority = {name: (-level[name], float(i)) for i, name in enumerate(deps)}
    return list_schedule(list(deps), deps, runtime, parallelism, priority)


def test_the_plan_beats_critical_path_order_where_that_is_not_optimal() -> None:
    # P=2. Longest path first starts `feeder` (4 s, then `join` 3 s) and `long` (6 s); the 1 s `short` that
    # `join` also waits for only gets a worker at 4 s, so `join` ends at 8 s. Starting `short` beside `feeder`
    # frees its worker for `long` at 1 s: 7 s, all 14 s of work packed on two workers.
    deps = {"short": [], "long": [], "feeder": [], "join": ["short", "feeder"]}
    runtime = {"short": 1.0, "long": 6.0, "feeder": 4.0, "join": 3.0}
    assert hlfet(deps, runtime, 2) == 8.0
    makespan, spans = run_to_end(deps, runtime, parallelism=2)
    assert makespan == 7.0
    assert spans["short"] == (0.0, 1.0) and spans["long"] == (1.0, 7.0)


@settings(max_examples=200, deadline=None)
@given(weighted_dags(), st.integers(1, 5))
def test_the_engine_replays_the_plan_and_is_never_slower_than_critical_path_order(
    case: tuple[dict[str, list[str]], dict[str, float]], parallelism: int
) -> None:
    deps, runtime = case
    dag = dag_of(deps)
    keys = plan_keys(dag, runtime, parallelism)
    planned = ListScheduler(dag, runtime, parallelism).forward([keys[n] for n in dag.nodes])
    makespan, spans = run_to_end(deps, runtime, parallelism)
    assert makespan == planned.makespan  # the ready queue follows the plan exactly
    assert [spans[n][0] for n in dag.nodes] == planned.starts
    assert makespan <= hlfet(deps, runtime, parallelism) + 1e-9


def test_a_cap_that_never_binds_keeps_critical_path_keys() -> None:
    chain = {f"c{i}": [f"c{i - 1}"] if i else [] for i in range(10)}  # one ready node at a time
    runtime = {name: float(i + 1) for i, name in enumerate(chain)}
    dag = dag_of(chain)
    levels = bottom_levels(dag, runtime)
    assert plan_keys(dag, runtime, 2) == {n: (-levels[n], i) for i, n in enumerate(dag.nodes)}


def test_plans_are_deterministic() -> None:
    """A restarted operator plans the same order (the perturbed restarts use a fixed seed)."""
    deps = {f"n{i}": [f"n{j}" for j in range(i) if (i * 7 + j) % 5 == 0] for i in range(60)}
    runtime = {name: float(1 + (i * 13) % 9) for i, name in enumerate(deps)}
    dag = dag_of(deps)
    assert plan_keys(dag, runtime, 3) == plan_keys(dag_of(deps), dict(runtime), 3)


def test_the_budget_counts_edges_so_a_dense_dag_gets_few_passes() -> None:
    """A hostile spec can give 5,000 nodes 256 dependencies each: a pass then costs its edges, not its nodes."""
    layer = [f"a{i}" for i in range(150)]
    deps: dict[str, list[str]] = {name: [] for name in layer}
    deps.update({f"b{i}": list(layer) for i in range(150)})  # 22,500 edges
    runtime = {name: float(1 + i % 7) for i, name in enumerate(deps)}
    dag = dag_of(deps)
    _, passes = planned(dag, runtime, 10)
    assert 3 <= passes <= 1 + PLAN_BUDGET // (len(deps) + 150 * 150)
    _, unbounded = planned(dag, runtime, 10, budget=10**9)
    assert unbounded > 2 * passes  # counting nodes alone (600,000 / 300) would have allowed all of these
