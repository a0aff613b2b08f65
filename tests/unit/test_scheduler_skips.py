"""Why a node was Skipped: its reason names the cause once (a failed or skipped dependency, a stop, FailFast)."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_scheduler import T0, comp, fail, launched, make_run, nodes

from switchyard.logic.scheduler import BreakerBook

COMPONENTS = {"c": comp(retry={"limit": 0})}

CHAIN = nodes(("a", []), ("b", ["a"]), ("c", ["b"]))


def test_a_child_of_a_failed_node_is_skipped_with_dependency_failed() -> None:
    run, book = make_run(CHAIN, policy="Continue"), BreakerBook()
    assert launched(run.step({}, COMPONENTS, book, T0)) == ["a"]
    run.step({"a": fail(run, "a")}, COMPONENTS, book, T0)
    assert (run.nodes["b"].reason, run.nodes["b"].message) == ("DependencyFailed", "dependency 'a' failed")


def test_a_node_behind_a_skipped_node_says_its_dependency_was_skipped() -> None:
    run, book = make_run(CHAIN, policy="Continue"), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": fail(run, "a")}, COMPONENTS, book, T0)
    assert run.nodes["c"].phase == "Skipped"
    assert run.nodes["c"].reason == "DependencySkipped"
    assert run.nodes["c"].message == "dependency 'b' was skipped (after 'a' failed)"


def test_a_stop_names_the_cause_in_the_reason_and_says_skipped_nowhere_else() -> None:
    run, book = make_run(CHAIN), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.stop(T0)
    assert run.nodes["a"].reason == "Stopped"
    assert (run.nodes["b"].phase, run.nodes["b"].reason) == ("Skipped", "Stopped")
    assert "skipped" not in (run.nodes["b"].message or "").lower()


def test_a_deadline_skips_with_its_own_reason() -> None:
    run, book = make_run(CHAIN, deadline_seconds=5), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({}, COMPONENTS, book, T0 + timedelta(seconds=5))
    assert (run.nodes["c"].phase, run.nodes["c"].reason) == ("Skipped", "DeadlineExceeded")
    assert "skipped" not in (run.nodes["c"].message or "").lower()


def test_failfast_skips_unrelated_waiting_nodes_with_reason_failfast() -> None:
    spec = nodes(("a", []), ("b", ["a"]), ("x", []), ("y", ["x"]))
    run, book = make_run(spec, parallelism=1), BreakerBook()
    assert launched(run.step({}, COMPONENTS, book, T0)) == ["a"]
    run.step({"a": fail(run, "a")}, COMPONENTS, book, T0)
    assert (run.nodes["x"].phase, run.nodes["x"].reason) == ("Skipped", "FailFast")
    assert run.nodes["y"].reason == "FailFast"
    assert "skipped" not in (run.nodes["x"].message or "").lower()


def test_node_times_have_the_precision_of_the_job_times_they_are_compared_with() -> None:
    """A Job's completionTime has whole seconds: a start stamped at 0.9 s would make a 3 s node last 2 s."""
    run, book = make_run(CHAIN, policy="Continue"), BreakerBook()
    started = T0 + timedelta(seconds=0.9)
    run.step({}, COMPONENTS, book, started)
    assert run.nodes["a"].started_at == T0
    finished = T0 + timedelta(seconds=3)  # completionTime, whole seconds
    run.step({"a": fail(run, "a", at=finished)}, COMPONENTS, book, finished + timedelta(seconds=0.4))
    assert run.nodes["a"].finished_at == finished
    assert run.nodes["b"].finished_at == finished, "a skip is stamped in whole seconds too"


def test_a_stop_stamps_whole_seconds() -> None:
    run, book = make_run(CHAIN), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.stop(T0 + timedelta(seconds=2.7))
    assert run.nodes["a"].finished_at == T0 + timedelta(seconds=2)
    assert run.nodes["c"].finished_at == T0 + timedelta(seconds=2)


def test_progress_counts_the_nodes_that_ended_well_so_a_failed_run_is_not_n_of_n() -> None:
    run, book = make_run(CHAIN, policy="Continue"), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"a": fail(run, "a")}, COMPONENTS, book, T0)
    assert run.finished and not run.succeeded
    assert run.progress == "0/3"
