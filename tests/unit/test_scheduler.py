"""The run engine: event-driven scheduling, parallelism, retries, breakers, fallbacks, failure policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec, NodeStatus, WorkflowStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def comp(**kw: object) -> ComponentSpec:
    return ComponentSpec.model_validate({"image": "busybox", **kw})


def nodes(*edges: tuple[str, list[str]], component: str = "c") -> list[NodeSpec]:
    return [NodeSpec(name=n, component=component, depends_on=deps) for n, deps in edges]


def make_run(spec: list[NodeSpec], parallelism: int = 10, policy: str = "FailFast", **kw: object) -> WorkflowRun:
    return WorkflowRun(
        "wf",
        Dag.build(spec),
        {},
        parallelism=parallelism,
        failure_policy=policy,  # type: ignore[arg-type]
        started_at=T0,
        **kw,  # type: ignore[arg-type]
    )


def ok(run: WorkflowRun, node: str, output: str = "out", at: datetime = T0) -> JobResult:
    return JobResult(node, run.nodes[node].attempts, "Succeeded", run.nodes[node].job or "", at, "", output)


def fail(run: WorkflowRun, node: str, at: datetime = T0, message: str = "boom") -> JobResult:
    return JobResult(
        node,
        run.nodes[node].attempts,
        "Failed",
        run.nodes[node].job or "",
        at,
        "BackoffLimitExceeded",
        message,
    )


DIAMOND = nodes(("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]))
COMPONENTS = {"c": comp()}


def launched(plan: object) -> list[str]:
    return sorted(launch.node for launch in plan.launches)  # type: ignore[attr-defined]


def test_diamond_runs_in_dependency_order_and_passes_outputs() -> None:
    run, book = make_run(DIAMOND), BreakerBook()
    assert launched(run.step({}, COMPONENTS, book, T0)) == ["a"]
    plan = run.step({"a": ok(run, "a", "A")}, COMPONENTS, book, T0)
    assert plan.outputs == {"a": "A"}
    assert launched(plan) == ["b", "c"]
    assert run.nodes["a"].phase == "Succeeded" and run.nodes["a"].output == "A"
    # d waits for its last dependency, and starts the moment it succeeds (not in waves)
    assert launched(run.step({"b": ok(run, "b")}, COMPONENTS, book, T0)) == []
    assert launched(run.step({"c": ok(run, "c")}, COMPONENTS, book, T0)) == ["d"]
    run.step({"d": ok(run, "d")}, COMPONENTS, book, T0)
    assert run.finished and run.succeeded and run.progress == "4/4"


def test_job_names_are_deterministic_per_attempt() -> None:
    run = make_run(DIAMOND)
    run.step({}, COMPONENTS, BreakerBook(), T0)
    first = run.nodes["a"].job
    again = make_run(DIAMOND)
    again.step({}, COMPONENTS, BreakerBook(), T0)
    assert first == again.nodes["a"].job and first and first.endswith(first[-6:])


def test_parallelism_caps_running_nodes() -> None:
    spec = nodes(*[(f"n{i}", []) for i in range(5)])
    run, book = make_run(spec, parallelism=2), BreakerBook()
    assert launched(run.step({}, COMPONENTS, book, T0)) == ["n0", "n1"]
    assert launched(run.step({}, COMPONENTS, book, T0)) == []
    assert launched(run.step({"n0": ok(run, "n0")}, COMPONENTS, book, T0)) == ["n2"]


def test_retry_with_exponential_backoff_then_success() -> None:
    components = {"c": comp(retry={"limit": 2, "backoff": {"initialSeconds": 1, "factor": 2, "maxSeconds": 300}})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    plan = run.step({"a": fail(run, "a", T0)}, components, book, T0)
    assert run.nodes["a"].phase == "Retrying"
    assert run.nodes["a"].next_retry_at == T0 + timedelta(seconds=1)
    assert plan.wake_at == T0 + timedelta(seconds=1) and not plan.launches
    assert not run.step({}, components, book, T0 + timedelta(milliseconds=500)).launches
    plan = run.step({}, components, book, T0 + timedelta(seconds=1))
    assert [(x.node, x.attempt) for x in plan.launches] == [("a", 2)]
    t1 = T0 + timedelta(seconds=3)
    run.step({"a": fail(run, "a", t1)}, components, book, t1)
    assert run.nodes["a"].next_retry_at == t1 + timedelta(seconds=2)
    plan = run.step({}, components, book, t1 + timedelta(seconds=2))
    assert [(x.node, x.attempt) for x in plan.launches] == [("a", 3)]
    run.step({"a": ok(run, "a")}, components, book, t1 + timedelta(seconds=3))
    assert run.nodes["a"].phase == "Succeeded" and run.nodes["a"].attempts == 3


def test_exhausted_retries_fail_the_node_and_skip_dependents_failfast() -> None:
    components = {"c": comp(retry={"limit": 0})}
    spec = nodes(("a", []), ("b", ["a"]), ("x", []), ("y", ["x"]))
    run, book = make_run(spec, parallelism=1), BreakerBook()
    run.step({}, components, book, T0)  # a runs; x waits for a free slot
    plan = run.step({"a": fail(run, "a")}, components, book, T0)
    assert run.nodes["a"].phase == "Failed" and run.nodes["a"].message == "boom"
    assert run.nodes["b"].phase == "Skipped"
    assert run.nodes["x"].phase == "Skipped", "FailFast starts nothing new"
    assert not plan.launches and run.finished and not run.succeeded


def test_continue_policy_keeps_independent_branches_running() -> None:
    components = {"c": comp(retry={"limit": 0})}
    spec = nodes(("a", []), ("b", ["a"]), ("x", []), ("y", ["x"]))
    run, book = make_run(spec, parallelism=1, policy="Continue"), BreakerBook()
    run.step({}, components, book, T0)
    plan = run.step({"a": fail(run, "a")}, components, book, T0)
    assert run.nodes["b"].phase == "Skipped" and launched(plan) == ["x"]
    assert launched(run.step({"x": ok(run, "x")}, components, book, T0)) == ["y"]
    run.step({"y": ok(run, "y")}, components, book, T0)
    assert run.finished and not run.succeeded and run.nodes["y"].phase == "Succeeded"


def breaker_components(**fallback: object) -> dict[str, ComponentSpec]:
    policy = {"retry": {"limit": 0}, "circuitBreaker": {"failureThreshold": 2, "openSeconds": 60}}
    out = {"c": comp(**policy, **({"fallback": fallback} if fallback else {}))}
    out["backup"] = comp()
    return out


def open_breaker(book: BreakerBook, components: dict[str, ComponentSpec]) -> None:
    for i in range(2):
        run = make_run(nodes((f"f{i}", [])))
        run.step({}, components, book, T0)
        run.step({f"f{i}": fail(run, f"f{i}")}, components, book, T0)
    assert book.state("c").state == "Open"


def test_open_breaker_without_fallback_fails_with_circuit_open() -> None:
    components, book = breaker_components(), BreakerBook()
    open_breaker(book, components)
    run = make_run(nodes(("a", [])))
    plan = run.step({}, components, book, T0 + timedelta(seconds=1))
    assert not plan.launches
    assert run.nodes["a"].phase == "Failed" and run.nodes["a"].reason == "CircuitOpen"
    assert [c for c, change in book.take_transitions() if change.startswith("Closed -> Open")] == ["c"]


def test_open_breaker_uses_static_fallback_output() -> None:
    components, book = breaker_components(output='{"fallback": true}'), BreakerBook()
    open_breaker(book, components)
    run = make_run(nodes(("a", []), ("b", ["a"])))
    plan = run.step({}, components, book, T0 + timedelta(seconds=1))
    assert run.nodes["a"].phase == "FellBack"
    assert plan.outputs == {"a": '{"fallback": true}', "b": '{"fallback": true}'}, "b's breaker is open too"
    assert launched(plan) == []
    assert run.nodes["b"].phase == "FellBack" and run.succeeded


def test_open_breaker_runs_fallback_component() -> None:
    components, book = breaker_components(component="backup"), BreakerBook()
    open_breaker(book, components)
    run = make_run(nodes(("a", [])))
    plan = run.step({}, components, book, T0 + timedelta(seconds=1))
    assert [(x.component, x.fallback_for) for x in plan.launches] == [("backup", "c")]
    assert run.nodes["a"].phase == "Running" and run.nodes["a"].fallback == "backup"
    run.step({"a": ok(run, "a", "B")}, components, book, T0 + timedelta(seconds=2))
    assert run.nodes["a"].phase == "FellBack" and run.nodes["a"].output == "B"


def test_half_open_trial_closes_the_breaker() -> None:
    components, book = breaker_components(), BreakerBook()
    open_breaker(book, components)
    later = T0 + timedelta(seconds=61)
    run = make_run(nodes(("a", []), ("b", [])), parallelism=2)
    plan = run.step({}, components, book, later)
    assert launched(plan) == ["a"], "HalfOpen allows one trial run; the other node is rejected"
    assert run.nodes["b"].reason == "CircuitOpen"
    run.step({"a": ok(run, "a")}, components, book, later)
    assert book.state("c").state == "Closed"


def test_deadline_fails_running_nodes_and_deletes_their_jobs() -> None:
    run, book = make_run(DIAMOND, deadline_seconds=10), BreakerBook()
    plan = run.step({}, COMPONENTS, book, T0)
    assert plan.wake_at == T0 + timedelta(seconds=10)
    job = run.nodes["a"].job
    plan = run.step({}, COMPONENTS, book, T0 + timedelta(seconds=10))
    assert plan.delete_jobs == [job]
    assert run.nodes["a"].reason == "DeadlineExceeded" and run.nodes["d"].phase == "Skipped"
    assert run.finished and run.failed_reason == "DeadlineExceeded"


def test_restart_from_status_does_not_relaunch_running_nodes() -> None:
    run, book = make_run(DIAMOND), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": ok(run, "a")}, COMPONENTS, book, T0)  # b and c running
    saved = WorkflowStatus.model_validate({"nodes": {n: run.node_wire(n) for n in run.nodes}}).nodes
    again = WorkflowRun("wf", Dag.build(DIAMOND), saved, parallelism=10, failure_policy="FailFast", started_at=T0)
    plan = again.step({}, COMPONENTS, BreakerBook(), T0)
    assert plan.launches == [] and plan.changed == set()
    assert dict(again.running_components()) == {"b": "c", "c": "c"}
    assert again.progress == "1/4"


def test_restart_marks_unskipped_dependents_of_a_failed_node() -> None:
    saved = {"a": NodeStatus(phase="Failed", attempts=1)}
    run = WorkflowRun("wf", Dag.build(DIAMOND), saved, parallelism=10, failure_policy="Continue", started_at=T0)
    plan = run.step({}, COMPONENTS, BreakerBook(), T0)
    assert {"b", "c", "d"} <= plan.changed and run.finished


def test_lost_job_counts_as_a_failed_attempt() -> None:
    components = {"c": comp(retry={"limit": 1, "backoff": {"initialSeconds": 0}})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    lost = JobResult("a", 1, "Lost", run.nodes["a"].job or "", T0, "", "")
    plan = run.step({"a": lost}, components, book, T0)
    assert [x.attempt for x in plan.launches] == [2]
    assert any(reason == "NodeRetrying" and "JobLost" in text for _, reason, text in plan.events)


# -- properties over random DAGs ------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> list[NodeSpec]:
    size = draw(st.integers(1, 40))
    out = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        out.append(NodeSpec(name=f"n{i}", component="c", depends_on=[f"n{d}" for d in deps]))
    order = draw(st.permutations(range(size)))
    return [out[i] for i in order]


def simulate(spec: list[NodeSpec], parallelism: int, fail_nodes: set[str], policy: str) -> tuple[WorkflowRun, int]:
    """Instant jobs: every Job started in one step finishes by the next. Checks invariants on the way."""
    components = {"c": comp(retry={"limit": 0}, circuitBreaker={"failureThreshold": 10000})}
    run, book = make_run(spec, parallelism=parallelism, policy=policy), BreakerBook()
    dag = run.dag
    started: dict[tuple[str, int], int] = {}
    results: dict[str, JobResult] = {}
    steps = 0
    while True:
        plan = run.step(results, components, book, T0)
        for launch in plan.launches:
            key = (launch.node, launch.attempt)
            assert key not in started, f"{key} started twice"
            started[key] = steps
            for dep in dag.deps[launch.node]:
                assert run.nodes[dep].phase == "Succeeded", f"{launch.node} started before {dep} succeeded"
        assert len(run.running) <= parallelism
        if not plan.launches and not run.running:
            break
        steps += 1
        results = {n: (fail(run, n) if n in fail_nodes else ok(run, n)) for n in run.running}
    return run, steps


@settings(max_examples=150, deadline=None)
@given(random_dags(), st.integers(1, 8))
def test_property_order_once_and_parallelism(spec: list[NodeSpec], parallelism: int) -> None:
    run, _ = simulate(spec, parallelism, set(), "FailFast")
    assert run.finished and run.succeeded


@settings(max_examples=150, deadline=None)
@given(random_dags())
def test_property_steps_equal_depth_with_unbounded_parallelism(spec: list[NodeSpec]) -> None:
    run, steps = simulate(spec, len(spec), set(), "FailFast")
    assert steps == run.dag.depth


@settings(max_examples=150, deadline=None)
@given(random_dags(), st.data())
def test_property_failures_skip_exactly_the_descendants(spec: list[NodeSpec], data: st.DataObject) -> None:
    names = [n.name for n in spec]
    failing = set(data.draw(st.lists(st.sampled_from(names), max_size=3)))
    run, _ = simulate(spec, len(spec), failing, "Continue")
    assert run.finished
    for name, status in run.nodes.items():
        upstream_failed = any(run.nodes[d].phase in ("Failed", "Skipped") for d in run.dag.deps[name])
        if upstream_failed:
            assert status.phase == "Skipped"
        elif name in failing:
            assert status.phase == "Failed"
        else:
            assert status.phase == "Succeeded"


@pytest.mark.parametrize("size", [5000])
def test_large_chain_runs_linearly(size: int) -> None:
    spec = [NodeSpec(name=f"n{i}", component="c", depends_on=[f"n{i - 1}"] if i else []) for i in range(size)]
    run, steps = simulate(spec, 10, set(), "FailFast")
    assert steps == size and run.succeeded


# -- issue 7: refusals, lost outputs, broken fallbacks, bounded status, stop ----------------------------


def refused(run: WorkflowRun, node: str, transient: bool, reason: str = "Forbidden") -> JobResult:
    return JobResult(
        node, run.nodes[node].attempts, "Rejected", "", T0, reason, "exceeded quota", blame=False, transient=transient
    )


def test_a_transient_refusal_uses_no_attempt_and_backs_off() -> None:
    components = {"c": comp(retry={"limit": 0}, circuitBreaker={"failureThreshold": 1})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    plan = run.step({"a": refused(run, "a", transient=True)}, components, book, T0)
    status = run.nodes["a"]
    assert (status.phase, status.attempts, status.reason) == ("Retrying", 0, "Forbidden")
    assert status.next_retry_at == T0 + timedelta(seconds=5) and plan.wake_at == status.next_retry_at
    assert plan.events[0][1] == "JobRejected"
    plan = run.step({}, components, book, T0 + timedelta(seconds=5))
    assert [(x.node, x.attempt) for x in plan.launches] == [("a", 1)]  # the same attempt, tried again
    run.step({"a": refused(run, "a", transient=True)}, components, book, T0 + timedelta(seconds=5))
    assert run.nodes["a"].next_retry_at == T0 + timedelta(seconds=15)  # 5 s, then 10 s: backing off
    assert book.state("c").state == "Closed" and book.failures.get("c", 0) == 0


def test_a_permanent_refusal_uses_the_attempt_but_never_the_breaker() -> None:
    components = {
        "c": comp(retry={"limit": 1, "backoff": {"initialSeconds": 0}}, circuitBreaker={"failureThreshold": 1})
    }
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    run.step({"a": refused(run, "a", transient=False, reason="Invalid")}, components, book, T0)
    status = run.nodes["a"]
    assert status.phase == "Retrying" and status.attempts == 1
    assert status.next_retry_at is not None and status.next_retry_at >= T0 + timedelta(seconds=5)  # never hammered
    assert book.state("c").state == "Closed"


def test_a_lost_output_retries_without_blaming_the_component() -> None:
    components = {
        "c": comp(retry={"limit": 1, "backoff": {"initialSeconds": 1}}, circuitBreaker={"failureThreshold": 1})
    }
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    lost = JobResult("a", 1, "Lost", run.nodes["a"].job or "", T0, "OutputLost", "gone", blame=False)
    run.step({"a": lost}, components, book, T0)
    assert run.nodes["a"].phase == "Retrying" and run.nodes["a"].reason == "OutputLost"
    assert book.state("c").state == "Closed"


@pytest.mark.parametrize("fallback", ["c", "ghost"])
def test_an_unusable_fallback_component_fails_the_node_clearly(fallback: str) -> None:
    components, book = breaker_components(component=fallback), BreakerBook()
    components.pop("backup")
    open_breaker(book, components)
    run = make_run(nodes(("a", [])))
    plan = run.step({}, components, book, T0 + timedelta(seconds=1))  # before the fix: KeyError in launch
    assert plan.launches == []
    assert run.nodes["a"].phase == "Failed" and run.nodes["a"].reason == "FallbackUnavailable"
    assert f"fallback component '{fallback}'" in (run.nodes["a"].message or "")


def test_job_names_carry_the_node_index_and_the_uid() -> None:
    run = WorkflowRun("wf", Dag.build(DIAMOND), {}, parallelism=10, failure_policy="FailFast", started_at=T0, uid="u1")
    again = WorkflowRun(
        "wf", Dag.build(DIAMOND), {}, parallelism=10, failure_policy="FailFast", started_at=T0, uid="u2"
    )
    assert run.job_name("d", 1).startswith("wf-d-3-1-")
    assert run.job_name("a", 1) != again.job_name("a", 1)


def test_a_compact_status_stays_bounded_when_every_node_fails() -> None:
    """Issue 7.9: 5,000 nodes, Continue, every node failing with a long message: status stays bounded."""
    from switchyard.k8s.prepare import COMPACT_NODE_BYTES  # the budget the size check at start relies on

    names = [f"node-{i:04d}-" + "x" * 50 for i in range(5000)]
    spec = [NodeSpec(name=n, component="c") for n in names]
    run, book = make_run(spec, parallelism=1000, policy="Continue"), BreakerBook()
    components = {"c": comp(retry={"limit": 0}, circuitBreaker={"failureThreshold": 10000})}
    plan = run.step({}, components, book, T0)
    while not run.finished:
        assert plan.launches, "every step launches the next nodes"
        plan = run.step({x.node: fail(run, x.node, message="E" * 2000) for x in plan.launches}, components, book, T0)
    assert all(s.phase == "Failed" for s in run.nodes.values())
    wire = {n: run.node_wire(n) for n in names}
    import json

    sizes = [len(json.dumps({k: v for k, v in w.items() if v is not None})) for w in wire.values()]
    with_message = sum(1 for w in wire.values() if w.get("message"))
    assert with_message == 100
    assert max(sizes) <= COMPACT_NODE_BYTES + 3 * 80, max(sizes)
    plain = [size for w, size in zip(wire.values(), sizes, strict=True) if not w.get("message")]
    assert max(plain) <= COMPACT_NODE_BYTES
    assert sum(sizes) + sum(len(n) + 4 for n in names) < 1_000_000


def test_stop_fails_running_nodes_deletes_their_jobs_and_skips_the_rest() -> None:
    run, book = make_run(DIAMOND), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    job = run.nodes["a"].job
    plan = run.stop(T0)
    assert plan.delete_jobs == [job]
    assert run.nodes["a"].phase == "Failed" and run.nodes["a"].reason == "Stopped"
    assert {run.nodes[n].phase for n in "bcd"} == {"Skipped"}
    assert run.finished and run.failed_reason == "Stopped"


def test_a_held_up_job_puts_its_reason_on_the_running_node_once_and_charges_nothing() -> None:
    components = {"c": comp(circuitBreaker={"failureThreshold": 1})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    job = run.nodes["a"].job or ""
    waiting = JobResult("a", 1, "Waiting", job, T0, "QuotaExceeded", "waiting for quota (ResourceQuota q): x", False)
    plan = run.step({"a": waiting}, components, book, T0)
    status = run.nodes["a"]
    assert (status.phase, status.attempts, status.reason) == ("Running", 1, "QuotaExceeded")
    assert plan.changed == {"a"} and [e[1] for e in plan.events] == ["QuotaExceeded"]
    again = JobResult("a", 1, "Waiting", job, T0, "QuotaExceeded", "waiting for quota (ResourceQuota q): y", False)
    plan = run.step({"a": again}, components, book, T0)
    assert status.message == "waiting for quota (ResourceQuota q): y" and plan.events == []  # no Event per try
    plan = run.step({"a": JobResult("a", 1, "Waiting", job, T0, blame=False)}, components, book, T0)
    assert (status.phase, status.reason, status.message) == ("Running", None, None) and plan.changed == {"a"}
    assert book.state("c").state == "Closed" and book.failures.get("c", 0) == 0


def test_a_permanent_failure_is_not_retried_and_keeps_the_whole_policy_message() -> None:
    components = {"c": comp(retry={"limit": 3}, circuitBreaker={"failureThreshold": 1})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    message = "the Pod is refused by Pod Security restricted:latest: " + "x" * 300
    result = JobResult("a", 1, "Failed", run.nodes["a"].job or "", T0, "PodRefused", message, False, permanent=True)
    plan = run.step({"a": result}, components, book, T0)
    status = run.nodes["a"]
    assert (status.phase, status.attempts, status.reason, status.message) == ("Failed", 1, "PodRefused", message)
    assert plan.launches == [] and run.finished and book.state("c").state == "Closed"
