"""Critical-path ready order: bottom levels, and the engine's schedule under a parallelism cap."""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.logic.dag import Dag
from switchyard.logic.priority import bottom_levels, node_runtimes
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ComponentSpec(image="example.com/x:1")


def dag_of(deps: dict[str, list[str]]) -> Dag:
    # Each node runs its own component, so a runtime estimate per component is one per node.
    return Dag.build([NodeSpec(name=n, component=n, depends_on=d) for n, d in deps.items()])


def run_to_end(
    deps: dict[str, list[str]], runtime: dict[str, float], parallelism: int, *, estimates: bool = True
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Drive the engine on a virtual clock; (makespan, node -> (start, end))."""
    dag = dag_of(deps)
    run = WorkflowRun(
        "w",
        dag,
        {},
        parallelism=parallelism,
        failure_policy="Continue",
        started_at=T0,
        runtime_estimates=runtime if estimates else None,
    )
    components = dict.fromkeys(dag.nodes, SPEC)
    breakers = BreakerBook()
    events: list[tuple[float, str, int]] = []
    spans: dict[str, tuple[float, float]] = {}
    now = 0.0
    results: dict[str, JobResult] = {}
    while True:
        plan = run.step(results, components, breakers, T0 + timedelta(seconds=now))
        for launch in plan.launches:
            end = now + runtime[launch.node]
            spans[launch.node] = (now, end)
            heapq.heappush(events, (end, launch.node, launch.attempt))
        if run.finished or not events:
            break
        now = events[0][0]
        results = {}
        while events and events[0][0] == now:
            _, node, attempt = heapq.heappop(events)
            results[node] = JobResult(node, attempt, "Succeeded", finished_at=T0 + timedelta(seconds=now))
    assert run.succeeded
    return now, spans


def critical_path(deps: dict[str, list[str]], runtime: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for name in dag_of(deps).order:
        finish[name] = runtime[name] + max((finish[d] for d in deps[name]), default=0.0)
    return max(finish.values())


@st.composite
def weighted_dags(draw: st.DrawFn) -> tuple[dict[str, list[str]], dict[str, float]]:
    size = draw(st.integers(1, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    deps = {f"n{i}": [f"n{j}" for j in range(i) if rng.random() < 0.15] for i in range(size)}
    runtime = {name: float(rng.randint(1, 20)) for name in deps}
    return deps, runtime


def test_bottom_level_is_runtime_plus_longest_path_below() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    dag = dag_of(deps)
    levels = bottom_levels(dag, {"a": 1.0, "b": 5.0, "c": 2.0, "d": 3.0})
    assert levels == {"d": 3.0, "b": 8.0, "c": 5.0, "a": 9.0}


def test_missing_or_negative_estimates_default_to_one_second() -> None:
    dag = dag_of({"a": [], "b": ["a"]})
    assert node_runtimes(dag, None) == {"a": 1.0, "b": 1.0}
    assert node_runtimes(dag, {"a": 4, "b": -3}) == {"a": 4.0, "b": 1.0}


def test_ready_nodes_beyond_the_cap_start_longest_path_first() -> None:
    # Spec (FIFO) order would start `short` first; `long` heads a longer chain, so it goes first.
    deps = {"short": [], "long": [], "tail": ["long"]}
    dag = dag_of(deps)
    run = WorkflowRun(
        "w",
        dag,
        {},
        parallelism=1,
        failure_policy="Continue",
        started_at=T0,
        runtime_estimates={"short": 1, "long": 1, "tail": 5},
    )
    plan = run.step({}, dict.fromkeys(dag.nodes, SPEC), BreakerBook(), T0)
    assert [launch.node for launch in plan.launches] == ["long"]


def test_without_estimates_the_longer_chain_still_goes_first_and_ties_keep_spec_order() -> None:
    deps = {"a": [], "b": [], "c": [], "b2": ["b"]}
    dag = dag_of(deps)
    run = WorkflowRun("w", dag, {}, parallelism=2, failure_policy="Continue", started_at=T0)
    plan = run.step({}, dict.fromkeys(dag.nodes, SPEC), BreakerBook(), T0)
    assert [launch.node for launch in plan.launches] == ["b", "a"]


def test_fork_with_one_long_branch_reaches_the_optimum() -> None:
    # A root forks into five 2 s branches and, last in spec order, one 10 s branch; P=2. The optimum (11 s)
    # starts the long branch right after the root and runs the short ones beside it.
    deps = {"root": [], **{f"s{i}": ["root"] for i in range(5)}, "long": ["root"]}
    runtime = {"root": 1.0, **{f"s{i}": 2.0 for i in range(5)}, "long": 10.0}
    makespan, spans = run_to_end(deps, runtime, parallelism=2)
    assert makespan == 11.0
    assert spans["long"] == (1.0, 11.0)
    # Without estimates every branch is one 1 s hop: spec order decides and the long one starts last.
    unaware, _ = run_to_end(deps, runtime, parallelism=2, estimates=False)
    assert unaware == 15.0


def test_a_chain_beside_independent_nodes_reaches_the_optimum() -> None:
    # Three 1 s singletons (first in spec order) and a chain of three 1 s nodes, P=2. FIFO would start two
    # singletons first and end at 4 s; longest-path-first starts the chain at once: 3 s, the critical path.
    deps = {"s1": [], "s2": [], "s3": [], "a1": [], "a2": ["a1"], "a3": ["a2"]}
    runtime = dict.fromkeys(deps, 1.0)
    makespan, spans = run_to_end(deps, runtime, parallelism=2, estimates=False)
    assert makespan == 3.0
    assert spans["a1"] == (0.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(weighted_dags())
def test_unlimited_parallelism_makespan_is_the_critical_path(
    case: tuple[dict[str, list[str]], dict[str, float]],
) -> None:
    deps, runtime = case
    makespan, _ = run_to_end(deps, runtime, parallelism=len(deps))
    assert makespan == critical_path(deps, runtime)


@settings(max_examples=150, deadline=None)
@given(weighted_dags(), st.integers(1, 5))
def test_priority_order_respects_dependencies_and_the_cap(
    case: tuple[dict[str, list[str]], dict[str, float]], parallelism: int
) -> None:
    deps, runtime = case
    makespan, spans = run_to_end(deps, runtime, parallelism)
    assert set(spans) == set(deps)
    for node, (start, _) in spans.items():
        for dep in deps[node]:
            assert spans[dep][1] <= start, f"{node} started before its dependency {dep} finished"
    for instant in {start for start, _ in spans.values()}:
        running = sum(1 for start, end in spans.values() if start <= instant < end)
        assert running <= parallelism
    work = sum(runtime.values())
    assert makespan >= max(critical_path(deps, runtime), work / parallelism) - 1e-9
    # Graham: any list schedule (never idle while a node is ready) is within work/P + CP.
    assert makespan <= work / parallelism + critical_path(deps, runtime) + 1e-9
