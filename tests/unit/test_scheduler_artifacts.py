"""The engine's rules for artifacts: recorded on success, store trouble retried beyond the limit, caps final."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from tests.unit.test_scheduler import T0, comp, fail, make_run, nodes, ok

from switchyard.logic.scheduler import STORE_RETRIES, BreakerBook, JobResult, WorkflowRun
from switchyard.models.workflow import WorkflowStatus

ARTIFACT = {"name": "chunk-00000", "key": "k/a/1/chunk-00000", "size": 3, "digest": "sha256:" + "0" * 64}
NO_RETRY = {"c": comp(retry={"limit": 0})}


def _store_trouble(result: JobResult) -> JobResult:
    return dataclasses.replace(result, state="Lost", reason="ArtifactStoreUnavailable", blame=False, store_trouble=True)


def test_a_success_records_exactly_its_artifacts_and_they_survive_a_restart() -> None:
    run, book = make_run(nodes(("a", []), ("b", ["a"]))), BreakerBook()
    run.step({}, NO_RETRY, book, T0)
    result = dataclasses.replace(
        ok(run, "a"), artifacts=(ARTIFACT,), artifact_manifest="k/a/1.manifest.json", artifact_bytes=3
    )
    plan = run.step({"a": result}, NO_RETRY, book, T0)
    assert [launch.node for launch in plan.launches] == ["b"]
    wire = run.node_wire("a")
    assert wire["artifacts"] == [ARTIFACT] and wire["artifactManifest"] == "k/a/1.manifest.json"
    assert wire["artifactBytes"] == 3
    read = WorkflowStatus.model_validate({"nodes": {"a": wire}}).nodes["a"]
    restarted = make_run(nodes(("a", []), ("b", ["a"])))
    restarted.nodes["a"] = type(run.nodes["a"]).of(read)
    assert restarted.node_wire("a") == wire


def test_store_trouble_retries_beyond_the_retry_limit_and_never_charges_the_breaker() -> None:
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, NO_RETRY, book, T0)
    now = T0
    for n in range(1, STORE_RETRIES + 1):
        run.step({"a": _store_trouble(fail(run, "a", now))}, NO_RETRY, book, now)
        state = run.nodes["a"]
        assert state.phase == "Retrying" and state.reason == "ArtifactStoreUnavailable"
        assert state.next_retry_at is not None and state.next_retry_at > now
        now = state.next_retry_at
        plan = run.step({}, NO_RETRY, book, now)
        assert [(x.node, x.attempt) for x in plan.launches] == [("a", n + 1)]
    assert book.state("c").consecutive_failures == 0
    run.step({"a": _store_trouble(fail(run, "a", now))}, NO_RETRY, book, now)  # the bound: then it fails
    assert run.nodes["a"].phase == "Failed"


def test_a_component_failure_after_store_trouble_still_gets_its_own_retries() -> None:
    components = {"c": comp(retry={"limit": 1, "backoff": {"initialSeconds": 1, "factor": 1, "maxSeconds": 1}})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    run.step({"a": _store_trouble(fail(run, "a", T0))}, components, book, T0)
    later = T0 + timedelta(seconds=10)
    run.step({}, components, book, later)
    run.step({"a": fail(run, "a", later)}, components, book, later)  # attempt 2: the Component's first failure
    assert run.nodes["a"].phase == "Retrying"


def test_output_too_large_fails_at_once() -> None:
    components = {"c": comp(retry={"limit": 3})}
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, components, book, T0)
    result = dataclasses.replace(fail(run, "a"), reason="OutputTooLarge", permanent=True, blame=False)
    run.step({"a": result}, components, book, T0)
    assert run.nodes["a"].phase == "Failed" and run.nodes["a"].reason == "OutputTooLarge"


def _bad_upstream(result: JobResult, producer: str) -> JobResult:
    return dataclasses.replace(
        result, state="Lost", reason="ArtifactCorrupt", message="ArtifactCorrupt: upstream a: x", blame=False,
        upstream_lost=producer,
    )  # fmt: skip


def test_a_bad_upstream_artifact_runs_the_producer_again_then_the_consumer_uncharged() -> None:
    run, book = make_run(nodes(("a", []), ("b", ["a"]), ("c2", ["a"]))), BreakerBook()
    run.step({}, NO_RETRY, book, T0)
    done = dataclasses.replace(ok(run, "a"), artifacts=(ARTIFACT,), artifact_manifest="k/a/1.manifest.json")
    plan = run.step({"a": done}, NO_RETRY, book, T0)
    assert sorted(x.node for x in plan.launches) == ["b", "c2"]
    plan = run.step({"b": _bad_upstream(fail(run, "b", T0), "a")}, NO_RETRY, book, T0)
    assert [(x.node, x.attempt) for x in plan.launches] == [("a", 2)]  # its next attempt: its own keys
    assert run.nodes["a"].artifacts is None and run.nodes["a"].artifact_manifest is None
    assert run.nodes["b"].phase == "Pending" and run.nodes["b"].reason == "ArtifactCorrupt"
    assert any(reason == "UpstreamRerun" for _, reason, _ in plan.events)
    # a restart here rebuilds the same: a running its second attempt, b waiting for it
    wire = {name: run.node_wire(name) for name in ("a", "b", "c2")}
    read = WorkflowStatus.model_validate({"nodes": wire}).nodes
    restarted = WorkflowRun("wf", run.dag, read, parallelism=10, failure_policy="FailFast", started_at=T0)
    assert restarted.remaining["b"] == 1 and restarted.running == {"a", "c2"}
    assert not restarted.step({}, NO_RETRY, BreakerBook(), T0).launches
    plan = run.step({"a": ok(run, "a")}, NO_RETRY, book, T0)
    assert [(x.node, x.attempt) for x in plan.launches] == [("b", 2)]  # although its Component allows no retry
    run.step({"b": ok(run, "b"), "c2": ok(run, "c2")}, NO_RETRY, book, T0)
    assert run.finished and run.succeeded
    assert book.state("c").consecutive_failures == 0


def test_a_producer_runs_again_at_most_twice_then_the_consumer_fails_as_usual() -> None:
    run, book = make_run(nodes(("a", []), ("b", ["a"]))), BreakerBook()
    run.step({}, NO_RETRY, book, T0)
    for attempt in (1, 2, 3):
        run.step({"a": ok(run, "a")}, NO_RETRY, book, T0)
        assert run.nodes["a"].attempts == attempt
        run.step({"b": _bad_upstream(fail(run, "b", T0), "a")}, NO_RETRY, book, T0)
    assert run.nodes["b"].phase == "Failed" and run.nodes["a"].phase == "Succeeded"


def test_upstream_of_reads_the_dependency_a_stage_in_failure_names() -> None:
    from switchyard.artifacts.manifest import upstream_of

    assert upstream_of("ArtifactCorrupt: upstream chunk: k: got 3 bytes") == "chunk"
    assert upstream_of("ArtifactMissing: upstream a-b: NoSuchKey: gone (bucket/k)") == "a-b"
    assert upstream_of("ArtifactMissing: NoSuchKey: the input (bucket/in)") is None
    assert upstream_of("ArtifactStoreUnavailable: upstream chunk: down") is None
    assert upstream_of(None) is None


def _art(result: JobResult, key: str, artifacts: tuple[dict[str, object], ...] = (ARTIFACT,)) -> JobResult:
    return dataclasses.replace(result, artifacts=artifacts, artifact_manifest=key, artifact_bytes=3)


def _fan_in_run() -> tuple[WorkflowRun, BreakerBook]:
    from tests.unit.test_foreach import run_of, spec

    run, book = run_of(spec({"items": [0, 1, 2]})), BreakerBook()
    run.step({}, NO_RETRY, book, T0)
    run.step({"split": ok(run, "split")}, NO_RETRY, book, T0)
    results = {
        "map[0]": _art(ok(run, "map[0]", "r0"), "k/map[0]/1.manifest.json"),
        "map[1]": _art(ok(run, "map[1]", "r1"), "k/map[1]/1.manifest.json"),
        "map[2]": _art(ok(run, "map[2]", "r2"), "k/map[2]/1.manifest.json", artifacts=()),  # wrote no files
    }
    plan = run.step(results, NO_RETRY, book, T0)
    assert [x.node for x in plan.launches] == ["merge"]
    return run, book


def test_the_fan_in_lists_every_succeeded_instance_with_artifacts_in_index_order() -> None:
    run, _ = _fan_in_run()
    assert run.fan_in_artifacts("merge") == {"map": ((0, "k/map[0]/1.manifest.json"), (1, "k/map[1]/1.manifest.json"))}
    assert run.fan_in_artifacts("map[0]") == {} and run.fan_in_artifacts("split") == {}


def test_a_bad_instance_artifact_runs_that_instance_again_then_the_fan_in_uncharged() -> None:
    run, book = _fan_in_run()
    bad = dataclasses.replace(
        _bad_upstream(fail(run, "merge", T0), "map[1]"), message="ArtifactCorrupt: upstream map[1]: x"
    )
    plan = run.step({"merge": bad}, NO_RETRY, book, T0)
    assert [(x.node, x.attempt) for x in plan.launches] == [("map[1]", 2)]  # its own keys
    assert run.nodes["map"].phase == "Running" and run.nodes["map"].progress == "2/3"
    assert run.nodes["merge"].phase == "Pending" and run.nodes["merge"].reason == "ArtifactCorrupt"
    assert any(reason == "UpstreamRerun" and "map[1]" in text for _, reason, text in plan.events)
    assert not run.finished
    plan = run.step({"map[1]": _art(ok(run, "map[1]", "again"), "k/map[1]/2.manifest.json")}, NO_RETRY, book, T0)
    assert run.nodes["map"].phase == "Succeeded" and run.nodes["map"].progress == "3/3"
    assert plan.outputs["map"] == '["r0","again","r2"]'
    assert [(x.node, x.attempt) for x in plan.launches] == [("merge", 2)]  # although its Component allows no retry
    assert run.fan_in_artifacts("merge")["map"][1] == (1, "k/map[1]/2.manifest.json")
    run.step({"merge": ok(run, "merge")}, NO_RETRY, book, T0)
    assert run.finished and run.succeeded
    assert book.state("c").consecutive_failures == 0
