"""Component slots (`maxConcurrentRuns`, `logic.slots`): the count, first come first served across Workflows,
claims, waiting nodes in the engine, retries and fallbacks counted, and a restart keeping the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from switchyard.logic.breaker import BreakerBook
from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import JobResult, WorkflowRun
from switchyard.logic.slots import CLAIM_SECONDS, WAITING_FOR_COMPONENT, SlotBook
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec, WorkflowStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def comp(**kw: object) -> ComponentSpec:
    return ComponentSpec.model_validate({"image": "busybox", **kw})


LIMITED = {"c": comp(maxConcurrentRuns=1)}


def run_of(name: str, book: SlotBook, *nodes: str, component: str = "c", status: WorkflowStatus | None = None):  # type: ignore[no-untyped-def]
    spec = [NodeSpec(name=n, component=component) for n in nodes]
    run = WorkflowRun(
        name,
        Dag.build(spec),
        (status.nodes if status else {}),
        parallelism=10,
        failure_policy="Continue",
        started_at=T0,
    )
    run.slots = book
    return run


def ok(run: WorkflowRun, node: str) -> JobResult:
    return JobResult(node, run.nodes[node].attempts, "Succeeded", run.nodes[node].job or "", T0, "", "out")


def launched(plan: object) -> list[str]:
    return sorted(launch.node for launch in plan.launches)  # type: ignore[attr-defined]


# -- the book --------------------------------------------------------------------------------------------------------


def test_admits_up_to_the_limit_then_makes_waiters() -> None:
    book = SlotBook()
    assert book.admit("c", 2, "a", "n", T0, "job-a", T0).admitted
    assert book.admit("c", 2, "b", "n", T0, "job-b", T0).admitted
    verdict = book.admit("c", 2, "c", "n", T0, "job-c", T0)
    assert not verdict.admitted and verdict.running == 2
    assert book.counts("c") == (2, 1)


def test_first_come_first_served_by_ready_at_not_by_who_asks_first() -> None:
    book = SlotBook()
    book.observe("c", {"running"}, {"running"}, T0)
    assert not book.admit("c", 1, "late", "n", T0 + timedelta(seconds=5), "job-late", T0).admitted
    assert not book.admit("c", 1, "early", "n", T0 + timedelta(seconds=1), "job-early", T0).admitted
    # the running Job ends: the late waiter's runner happens to ask first, and still waits
    assert book.observe("c", set(), {"running"}, T0) is True
    assert not book.admit("c", 1, "late", "n", T0 + timedelta(seconds=5), "job-late", T0).admitted
    verdict = book.admit("c", 1, "early", "n", T0 + timedelta(seconds=1), "job-early", T0)
    assert verdict.admitted and verdict.ahead == 0
    assert book.waiting_workflows("c") == {"late"}


def test_same_second_orders_by_workflow_then_node() -> None:
    book = SlotBook()
    book.observe("c", {"x"}, {"x"}, T0)
    for wf in ("b", "a"):
        book.admit("c", 1, wf, "n", T0, f"job-{wf}", T0)
    book.observe("c", set(), {"x"}, T0)
    assert not book.admit("c", 1, "b", "n", T0, "job-b", T0).admitted
    assert book.admit("c", 1, "a", "n", T0, "job-a", T0).admitted


def test_a_claim_counts_until_the_informer_has_the_job_or_it_expires() -> None:
    book = SlotBook()
    assert book.admit("c", 1, "a", "n", T0, "job-a", T0).admitted
    book.observe("c", set(), set(), T0)  # the informer has not seen job-a yet: still counted
    assert not book.admit("c", 1, "b", "n", T0, "job-b", T0).admitted
    book.observe("c", {"job-a"}, {"job-a"}, T0)  # seen active: counted once
    assert book.counts("c") == (1, 1)
    book.observe("c", set(), {"job-a"}, T0)  # finished
    assert book.counts("c") == (0, 1)
    assert book.admit("c", 1, "b", "n", T0, "job-b", T0).admitted
    book.observe("c", set(), set(), T0 + timedelta(seconds=CLAIM_SECONDS + 1))  # never seen: given up
    assert book.counts("c") == (0, 0)


def test_release_and_withdraw() -> None:
    book = SlotBook()
    assert book.admit("c", 1, "a", "n", T0, "job-a", T0).admitted
    assert not book.admit("c", 1, "b", "n", T0, "job-b", T0).admitted
    book.release("c", "job-a")  # the API refused job-a
    assert book.counts("c") == (0, 1)
    assert book.withdraw("b") == {"c"}
    assert book.counts("c") == (0, 0)


# -- the engine ------------------------------------------------------------------------------------------------------


def test_three_workflows_one_slot_run_one_at_a_time_in_ready_order() -> None:
    book, breakers = SlotBook(), BreakerBook()
    runs = [run_of(f"wf{i}", book, "n") for i in range(3)]
    plans = [run.step({}, LIMITED, breakers, T0 + timedelta(seconds=i)) for i, run in enumerate(runs)]
    assert [launched(p) for p in plans] == [["n"], [], []]
    for run in runs[1:]:
        status = run.nodes["n"]
        assert (status.phase, status.reason) == ("Pending", WAITING_FOR_COMPONENT)
        assert status.message == "waiting for component c: 1/1 running"
    assert runs[2].nodes["n"].ready_at == T0 + timedelta(seconds=2)
    assert plans[1].events == [("Normal", WAITING_FOR_COMPONENT, "node n: waiting for component c: 1/1 running")]
    assert runs[1].step({}, LIMITED, breakers, T0 + timedelta(seconds=3)).events == []  # one Event, not one a pass
    job = runs[0].nodes["n"].job or ""
    book.observe("c", {job}, {job}, T0)
    runs[0].step({"n": ok(runs[0], "n")}, LIMITED, breakers, T0)
    book.observe("c", set(), {job}, T0)
    assert launched(runs[2].step({}, LIMITED, breakers, T0 + timedelta(seconds=3))) == []  # wf1 came first
    plan = runs[1].step({}, LIMITED, breakers, T0 + timedelta(seconds=3))
    assert launched(plan) == ["n"] and runs[1].nodes["n"].phase == "Running"
    assert runs[1].nodes["n"].reason is None and runs[1].nodes["n"].ready_at is None


def test_unlimited_components_are_not_counted() -> None:
    book = SlotBook()
    runs = [run_of(f"wf{i}", book, "n") for i in range(3)]
    assert all(launched(r.step({}, {"c": comp()}, BreakerBook(), T0)) == ["n"] for r in runs)
    assert book.components == {}


def test_a_retry_counts_and_waits_too() -> None:
    book, breakers = SlotBook(), BreakerBook()
    limited = {"c": comp(maxConcurrentRuns=1, retry={"limit": 2, "backoff": {"initialSeconds": 1}})}
    a, b = run_of("a", book, "n"), run_of("b", book, "n")
    assert launched(a.step({}, limited, breakers, T0)) == ["n"]
    failed = JobResult("n", 1, "Failed", a.nodes["n"].job or "", T0, "BackoffLimitExceeded", "boom")
    book.observe("c", set(), {a.nodes["n"].job or ""}, T0)
    a.step({"n": failed}, limited, breakers, T0)
    assert a.nodes["n"].phase == "Retrying"
    assert launched(b.step({}, limited, breakers, T0)) == ["n"]  # the slot came free: b takes it
    plan = a.step({}, limited, breakers, T0 + timedelta(seconds=5))  # a's retry is due: it waits for b
    assert launched(plan) == [] and a.nodes["n"].reason == WAITING_FOR_COMPONENT
    assert a.nodes["n"].phase == "Pending" and a.nodes["n"].attempts == 1


def test_a_fallback_component_with_a_limit_counts_its_jobs() -> None:
    book, breakers = SlotBook(), BreakerBook()
    components = {
        "c": comp(circuitBreaker={"failureThreshold": 1, "openSeconds": 600}, fallback={"component": "f"}),
        "f": comp(maxConcurrentRuns=1),
    }
    record_time = T0
    from switchyard.models.component import FailureRecord

    breakers.failure("c", components["c"].circuit_breaker, T0, FailureRecord(workflow="x", node="y", time=record_time))
    a, b = run_of("a", book, "n"), run_of("b", book, "n")
    plan = a.step({}, components, breakers, T0)
    assert [(x.node, x.component) for x in plan.launches] == [("n", "f")]
    assert launched(b.step({}, components, breakers, T0)) == []
    assert b.nodes["n"].message == "waiting for component f: 1/1 running"


def test_a_restart_keeps_the_place_in_line() -> None:
    book, breakers = SlotBook(), BreakerBook()
    first, second = run_of("zz", book, "n"), run_of("aa", book, "n")
    book.observe("c", {"other"}, {"other"}, T0)
    first.step({}, LIMITED, breakers, T0)
    second.step({}, LIMITED, breakers, T0 + timedelta(seconds=4))
    status = WorkflowStatus.model_validate({"nodes": {"n": first.nodes["n"].wire()}})
    # the operator restarts: a new book, the late waiter's runner resumes first
    book = SlotBook()
    book.observe("c", {"other"}, {"other"}, T0)
    late = run_of("aa", book, "n", status=WorkflowStatus.model_validate({"nodes": {"n": second.nodes["n"].wire()}}))
    early = run_of("zz", book, "n", status=status)
    assert early.nodes["n"].ready_at == T0
    late.step({}, LIMITED, breakers, T0 + timedelta(seconds=10))
    early.step({}, LIMITED, breakers, T0 + timedelta(seconds=10))
    book.observe("c", set(), {"other"}, T0)
    assert launched(late.step({}, LIMITED, breakers, T0 + timedelta(seconds=11))) == []
    assert launched(early.step({}, LIMITED, breakers, T0 + timedelta(seconds=11))) == ["n"]


def test_a_skipped_waiter_stops_waiting() -> None:
    book, breakers = SlotBook(), BreakerBook()
    a, b = run_of("a", book, "n"), run_of("b", book, "n")
    a.step({}, LIMITED, breakers, T0)
    b.step({}, LIMITED, breakers, T0)
    assert book.counts("c") == (1, 1)
    b.step({}, LIMITED, breakers, T0, stop=True)
    assert b.nodes["n"].phase == "Skipped"
    b.step({}, LIMITED, breakers, T0)
    assert book.counts("c") == (1, 0)


@pytest.mark.parametrize("value", [0, -1, "two"])
def test_bad_limits_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        comp(maxConcurrentRuns=value)


def test_waiters_seeded_from_status_keep_their_place_until_their_runner_asks() -> None:
    from switchyard.logic.slots import waiting_in_status

    book = SlotBook()
    wire = {
        "n": {
            "phase": "Pending",
            "reason": WAITING_FOR_COMPONENT,
            "message": "waiting for component c: 1/1 running",
            "readyAt": "2026-01-01T00:00:01Z",
        },
        "m": {"phase": "Running"},
    }
    waiting = waiting_in_status(wire)
    assert waiting == [("n", "c", T0 + timedelta(seconds=1))]
    book.seed("early", waiting)  # its runner has not resumed yet
    assert not book.admit("c", 1, "late", "n", T0 + timedelta(seconds=9), "job-late", T0).admitted
    assert book.admit("c", 1, "early", "n", T0 + timedelta(seconds=1), "job-early", T0).admitted
    book.seed("early", waiting)  # an older status seen after its runner asked: ignored
    assert book.counts("c") == (1, 1)
    book.forget("early")
    book.seed("early", waiting)  # a namesake created later is a new Workflow
    assert book.counts("c") == (1, 2)
