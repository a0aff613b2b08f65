"""Component statistics (issue 24 items 1, 4): the window, its rate and percentiles, the book, learned estimates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import BreakerBook, JobResult, WorkflowRun
from switchyard.logic.stats import StatsBook, learned_estimates, percentile, record
from switchyard.models.component import ComponentSpec, ComponentStatus, RetryPolicy
from switchyard.models.stats import WINDOW, ComponentStats, DurationStats
from switchyard.models.workflow import NodeSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ComponentSpec(image="example.com/x:1")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50 and percentile(values, 0.9) == 90 and percentile(values, 0.99) == 99
    assert percentile([7.0], 0.5) == percentile([7.0], 0.99) == 7
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2


def test_record_counts_runs_and_failures_and_slides_the_window() -> None:
    stats = ComponentStats()
    for i in range(150):
        stats = record(stats, True, float(i), T0 + timedelta(seconds=i, microseconds=5))
    assert stats.runs == 150 and stats.failures == 0 and stats.failure_rate == 0
    assert len(stats.window.outcomes) == WINDOW and len(stats.window.seconds) == WINDOW
    assert stats.window.seconds[0] == 50  # oldest first: 0..49 slid out
    assert stats.duration == DurationStats(p50=99, p90=139, p99=148)
    assert stats.last_updated == T0 + timedelta(seconds=149)  # whole seconds, as status stamps
    for _ in range(25):
        stats = record(stats, False, 1.0, T0)
    assert stats.runs == 175 and stats.failures == 25  # lifetime totals since the last reset
    assert stats.failure_rate == 0.25  # over the last 100 runs only
    assert len(stats.window.seconds) == WINDOW and stats.window.seconds[-1] == 149  # failures add no duration


def test_a_success_without_a_known_run_time_counts_but_adds_no_duration() -> None:
    stats = record(ComponentStats(), True, None, T0)
    assert stats.runs == 1 and stats.duration is None and stats.window.outcomes == "S"


def test_record_does_not_change_its_argument_and_the_wire_form_round_trips() -> None:
    first = record(ComponentStats(), True, 2.5, T0)
    second = record(first, False, None, T0)
    assert first.runs == 1 and first.window.outcomes == "S"
    wire = second.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["failureRate"] == 0.5 and wire["window"] == {"outcomes": "SF", "seconds": [2.5]}
    status = ComponentStatus.model_validate({"stats": wire})
    assert status.stats == second


def test_the_book_seeds_once_and_resets_once_per_generation() -> None:
    book = StatsBook()
    persisted = record(ComponentStats(), True, 3.0, T0)
    book.load("c", persisted)
    book.success("c", 5.0, T0)
    book.load("c", ComponentStats())  # what this process knows wins over a status read later
    assert book.get("c") is not None and book.get("c").runs == 2  # type: ignore[union-attr]
    assert book.take_dirty() == {"c"} and book.take_dirty() == set()
    forgotten = book.reset("c", generation=2)
    assert forgotten is not None and forgotten.runs == 2
    assert book.get("c") == ComponentStats() and book.dirty == {"c"}
    book.failure("c", 1.0, T0)
    assert book.reset("c", generation=2) is None  # a second event of the same change forgets nothing
    assert book.get("c").runs == 1  # type: ignore[union-attr]


def test_learned_estimates_prefer_the_spec_then_the_observed_median() -> None:
    seen = record(record(record(ComponentStats(), True, 4.0, T0), True, 6.0, T0), True, 30.0, T0)
    specs = {
        "given": SPEC.model_copy(update={"runtime_estimate_seconds": 2.0}),
        "learned": SPEC,
        "unknown": SPEC,
        "failing": SPEC,
    }
    only_failures = record(ComponentStats(), False, 9.0, T0)
    stats = {"given": seen, "learned": seen, "unknown": None, "failing": only_failures}
    assert learned_estimates(specs, stats) == {"given": 2.0, "learned": 6.0}


def dag_of(deps: dict[str, list[str]]) -> Dag:
    return Dag.build([NodeSpec(name=n, component=n, depends_on=d) for n, d in deps.items()])


def test_a_workflow_without_estimates_gets_critical_path_order_from_statistics() -> None:
    """Four independent nodes, parallelism 2, no `runtimeEstimateSeconds`: without statistics they start in
    name order (a, b); with x's observed median of 10 s, the long node x starts first."""
    deps: dict[str, list[str]] = {"a": [], "b": [], "c": [], "x": [], "end": ["a", "b", "c", "x"]}
    specs = dict.fromkeys(deps, SPEC)
    book = StatsBook()
    for name, seconds in {"a": 1.0, "b": 1.0, "c": 1.0, "x": 10.0, "end": 1.0}.items():
        book.success(name, seconds, T0)

    def first_launches(estimates: dict[str, float] | None) -> set[str]:
        run = WorkflowRun(
            "w", dag_of(deps), {}, parallelism=2, failure_policy="Continue", started_at=T0, runtime_estimates=estimates
        )
        plan = run.step({}, specs, BreakerBook(), T0)
        return {launch.node for launch in plan.launches}

    assert first_launches(None) == {"a", "b"}
    assert first_launches(learned_estimates(specs, book.stats)) == {"x", "a"}


def test_the_engine_records_runs_charged_to_the_component_only() -> None:
    deps: dict[str, list[str]] = {"ok": [], "bad": [], "evicted": [], "cached": []}
    specs = dict.fromkeys(deps, SPEC.model_copy(update={"retry": RetryPolicy(limit=0)}))
    run = WorkflowRun("w", dag_of(deps), {}, parallelism=10, failure_policy="Continue", started_at=T0)
    run.stats = StatsBook()
    breakers = BreakerBook()
    run.step({}, specs, breakers, T0)
    later = T0 + timedelta(seconds=5)
    results = {
        "ok": JobResult("ok", 1, "Succeeded", "j1", later, ran_seconds=3.0),
        "bad": JobResult("bad", 1, "Failed", "j2", later, "Error", "boom", ran_seconds=2.0),
        "evicted": JobResult(
            "evicted", 1, "Failed", "j3", later, "Disrupted", "evicted", blame=False, infrastructure=True
        ),
        "cached": JobResult("cached", 1, "Succeeded", "", later, "Cached", "out", cached=True),
    }
    run.step(results, specs, breakers, later)
    stats = run.stats.stats
    assert stats["ok"].runs == 1 and stats["ok"].duration is not None and stats["ok"].duration.p50 == 3.0
    assert stats["bad"].runs == 1 and stats["bad"].failures == 1 and stats["bad"].failure_rate == 1
    assert "evicted" not in stats and "cached" not in stats  # the cluster's doing, and no Job ran


def test_a_pods_run_time_is_its_main_containers_start_to_finish_not_its_pending_time() -> None:
    from switchyard.k8s.entries import pod_entry

    body = {
        "metadata": {"name": "p", "labels": {"batch.kubernetes.io/job-name": "j"}, "creationTimestamp": "x"},
        "status": {
            "phase": "Succeeded",
            "startTime": "2026-01-01T00:00:00Z",  # scheduled at 0, pulled and started at 30
            "containerStatuses": [
                {
                    "name": "main",
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "startedAt": "2026-01-01T00:00:30Z",
                            "finishedAt": "2026-01-01T00:00:42Z",
                        }
                    },
                }
            ],
        },
    }
    entry = pod_entry(body)
    assert entry is not None and entry.ran_seconds == 12
