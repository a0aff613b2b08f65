"""The k8s layer's judgement calls, with an in-memory API (no cluster): what counts as lost, foreign or retriable."""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchyard.handlers import indexes as index_handlers
from switchyard.k8s import observer as observer_module
from switchyard.k8s.client import Api
from switchyard.k8s.entries import JobEntry
from switchyard.k8s.observer import JobObserver
from switchyard.k8s.runtime import Views
from switchyard.logic.dag import Dag
from switchyard.logic.scheduler import BreakerBook, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import NodeSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COMPONENTS = {"c": ComponentSpec(image="x")}


def api_error(status: int, reason: str) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = json.dumps({"kind": "Status", "reason": reason, "message": f"{reason} says the server"})
    return error


class FakeApi:
    """The parts of `switchyard.k8s.client.Api` the observer uses, answered from dicts."""

    def __init__(self, jobs: dict[str, Any], pods: list[Any]) -> None:
        self.jobs = jobs
        self.pods = pods
        self.reads: list[str] = []
        self.api_client = client.ApiClient()
        self.batch = self
        self.core = self

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def read_job(self, namespace: str, name: str) -> Any:
        self.reads.append(name)
        if name not in self.jobs:
            raise api_error(404, "NotFound")
        return self.jobs[name]

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> Any:
        return client.V1PodList(items=self.pods)


def running_run() -> WorkflowRun:
    run = WorkflowRun(
        "wf", Dag.build([NodeSpec(name="a", component="c")]), {}, parallelism=1, failure_policy="FailFast",
        started_at=T0, uid="uid-1",
    )  # fmt: skip
    run.step({}, COMPONENTS, BreakerBook(), T0)
    return run


def views(jobs: dict[tuple[str, str], list[JobEntry]]) -> Views:
    """A live dict (or a spy) where the operator has a Store: the observer only reads `in` and `[key]`."""
    return Views(components={}, jobs=jobs, pods={})  # type: ignore[arg-type]


def active_entry(name: str) -> JobEntry:
    return JobEntry(name, "wf", "a", 1, "Active", None, "", owner_uid="uid-1", created_at=T0, resource_version="7")


def test_an_active_job_the_index_keeps_after_a_watch_gap_is_confirmed_and_found_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 7.11: a Job deleted during a watch gap (410 relist) stays Active in the index forever."""
    run = running_run()
    job = run.nodes["a"].job or ""
    api = FakeApi(jobs={}, pods=[])
    observer = JobObserver(api, views({("ns", job): [active_entry(job)]}), "ns", "uid-1")  # type: ignore[arg-type]
    clock = [1000.0]
    monkeypatch.setattr(observer_module.time, "monotonic", lambda: clock[0])  # the test's clock, not the API's
    now = T0 + timedelta(seconds=5)
    assert asyncio.run(observer.observe(run, COMPONENTS, now)).results == {}
    assert api.reads == []  # fresh: the index is trusted
    clock[0] += observer_module.CONFIRM_AFTER + 1
    assert asyncio.run(observer.observe(run, COMPONENTS, now)).results == {}
    assert api.reads == [job]  # quiet too long: asked the API, which says it is gone
    clock[0] += observer_module.MISSING_GRACE + 1
    result = asyncio.run(observer.observe(run, COMPONENTS, now)).results["a"]
    assert (result.state, result.reason, result.blame) == ("Lost", "JobLost", False)


def test_a_job_just_created_is_not_fetched_until_its_grace_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10.3: a Job this process just created, not yet in the index, costs no GET per pass."""
    run = running_run()
    job = run.nodes["a"].job or ""
    api = FakeApi({}, [])
    index: dict[tuple[str, str], list[JobEntry]] = {}
    observer = JobObserver(api, views(index), "ns", "uid-1")  # type: ignore[arg-type]
    clock = [1000.0]
    monkeypatch.setattr(observer_module.time, "monotonic", lambda: clock[0])
    observer.created({job: "a"})
    for _ in range(3):  # passes before the Job's watch event reached the index
        seen = asyncio.run(observer.observe(run, COMPONENTS, T0))
        assert seen.results == {} and seen.wake_at == T0 + timedelta(seconds=observer_module.MISSING_GRACE)
    assert api.reads == []
    index[("ns", job)] = [active_entry(job)]  # the ADDED event arrived
    assert asyncio.run(observer.observe(run, COMPONENTS, T0)).results == {}
    assert api.reads == []
    del index[("ns", job)]  # never indexed after all (deleted at once): after the grace the API is asked
    clock[0] += observer_module.MISSING_GRACE
    asyncio.run(observer.observe(run, COMPONENTS, T0))
    assert api.reads == [job]


def test_a_job_not_created_by_this_process_is_fetched_at_once() -> None:
    run = running_run()
    job = run.nodes["a"].job or ""
    api = FakeApi({}, [])
    observer = JobObserver(api, views({}), "ns", "uid-1")  # type: ignore[arg-type]
    asyncio.run(observer.observe(run, COMPONENTS, T0))
    assert api.reads == [job]


def test_a_job_of_another_workflow_under_the_nodes_name_is_foreign() -> None:
    run = running_run()
    job = run.nodes["a"].job or ""
    stranger = JobEntry(job, "other", "a", 1, "Succeeded", T0, "", owner_uid="uid-9")
    observer = JobObserver(FakeApi({}, []), views({("ns", job): [stranger]}), "ns", "uid-1")  # type: ignore[arg-type]
    result = asyncio.run(observer.observe(run, COMPONENTS, T0)).results["a"]
    assert (result.state, result.reason, result.blame) == ("Failed", "ForeignJob", False)
    assert "another workflow" in result.message


def test_a_succeeded_job_without_any_pod_lost_its_output() -> None:
    run = running_run()
    job = run.nodes["a"].job or ""
    done = JobEntry(job, "wf", "a", 1, "Succeeded", T0, "", owner_uid="uid-1")
    observer = JobObserver(FakeApi({}, []), views({("ns", job): [done]}), "ns", "uid-1")  # type: ignore[arg-type]
    result = asyncio.run(observer.observe(run, COMPONENTS, T0 + timedelta(seconds=1))).results["a"]
    assert (result.state, result.reason, result.blame) == ("Lost", "OutputLost", False)


def test_already_exists_is_an_answer_and_conflict_is_retried() -> None:
    """Issue 7.13: 409 AlreadyExists is never retried as if it were transient; a write Conflict is."""
    api = Api(client.ApiClient())
    calls: list[str] = []

    def exists() -> None:
        calls.append("exists")
        raise api_error(409, "AlreadyExists")

    with pytest.raises(ApiException):
        asyncio.run(api.call(exists))
    assert calls == ["exists"]

    def conflict_once() -> str:
        calls.append("conflict")
        if calls.count("conflict") == 1:
            raise api_error(409, "Conflict")
        return "written"

    assert asyncio.run(api.call(conflict_once)) == "written" and calls.count("conflict") == 2
    api.close()


def test_watch_handlers_run_on_the_event_loop() -> None:
    """Issue 7.13: they set asyncio.Events, which only the loop's own thread may touch."""
    assert inspect.iscoroutinefunction(index_handlers.sy_components)
    # Job and Pod changes reach runners through the informer, on the loop: tests/emulator/test_informer.py


class CountingIndex(dict):  # type: ignore[type-arg]
    """A kopf index stand-in that records which Jobs were looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.looked: list[str] = []

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple):
            self.looked.append(key[1])
        return super().__contains__(key)


def wide_run(width: int) -> WorkflowRun:
    nodes = [NodeSpec(name=f"n{i}", component="c") for i in range(width)]
    run = WorkflowRun("wf", Dag.build(nodes), {}, parallelism=width, failure_policy="FailFast", started_at=T0, uid="u")
    run.step({}, COMPONENTS, BreakerBook(), T0)
    return run


def test_a_pass_looks_only_at_the_jobs_with_news_and_at_all_when_its_timer_is_due() -> None:
    """Issue 10.3: a pass costs what changed, not how many nodes run."""
    run = wide_run(50)
    jobs = {node: run.nodes[node].job or "" for node in run.running}
    index = CountingIndex(
        {
            ("ns", job): [JobEntry(job, "wf", node, 1, "Active", None, "", owner_uid="u", created_at=T0)]
            for node, job in jobs.items()
        }
    )
    observer = JobObserver(FakeApi({}, []), views(index), "ns", "u")  # type: ignore[arg-type]
    first = asyncio.run(observer.observe(run, COMPONENTS, T0, changed=set()))
    assert sorted(index.looked) == sorted(jobs.values())  # the first pass looks at every running Job
    assert first.wake_at == T0 + timedelta(seconds=600)  # the pending timeout of the Pods not started yet
    index.looked.clear()
    done = JobEntry(jobs["n7"], "wf", "n7", 1, "Failed", T0, "BackoffLimitExceeded", owner_uid="u", created_at=T0)
    index[("ns", jobs["n7"])] = [done]
    seen = asyncio.run(observer.observe(run, COMPONENTS, T0 + timedelta(seconds=1), changed={jobs["n7"], "other"}))
    assert index.looked == [jobs["n7"]] and list(seen.results) == ["n7"]
    assert seen.wake_at == first.wake_at  # the timers of the Jobs not looked at are kept
    index.looked.clear()
    asyncio.run(observer.observe(run, COMPONENTS, T0 + timedelta(seconds=600), changed=set()))
    assert len(index.looked) == 50  # its timer is due: every running Job is looked at again


def test_a_gone_runner_does_not_take_its_namesakes_trigger() -> None:
    """A Workflow deleted and recreated under the same name: the old runner's exit must not orphan the new
    runner's trigger (it would then miss every Job change until a resync)."""
    from switchyard.k8s.runtime import Runtime

    async def scenario() -> None:
        rt = Runtime(api=None)  # type: ignore[arg-type]
        old = rt.wakeup("ns", "wf")
        rt.forget("ns", "wf", old)
        new = rt.wakeup("ns", "wf")
        rt.forget("ns", "wf", old)  # the old runner's finally, running late
        rt.job_changed("ns", "wf", "job-1")
        assert new.is_set() and rt.take_changed("ns", "wf") == {"job-1"}

    asyncio.run(scenario())


def refused_views(job: str, message: str) -> Views:
    from switchyard.k8s.podevents import FailedCreate, Refusals

    refusals = Refusals()
    refusals.items[("ns", job)] = FailedCreate("ns", job, "job-uid", message, "ev-1")
    return Views(components={}, jobs={("ns", job): [active_entry(job)]}, pods={}, refusals=refusals)  # type: ignore[arg-type]


QUOTA = 'Error creating: pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'


def test_a_quota_wait_outlasts_the_pending_timeout_on_the_same_job() -> None:
    """The job controller creates the Pod once the quota frees: the Job stays, the node keeps waiting."""
    run = running_run()
    job = run.nodes["a"].job or ""
    observer = JobObserver(FakeApi({}, []), refused_views(job, QUOTA), "ns", "uid-1")  # type: ignore[arg-type]
    late = T0 + timedelta(seconds=observer_module.DEFAULT_PENDING_TIMEOUT + 60)
    seen = asyncio.run(observer.observe(run, {"c": ComponentSpec(image="x", pendingTimeoutSeconds=30)}, late))
    result = seen.results["a"]
    assert (result.state, result.reason, result.blame) == ("Waiting", "QuotaExceeded", False)
    assert result.message.startswith("waiting for quota (ResourceQuota q): pods ") and seen.delete_jobs == []


def test_a_policy_refusal_fails_the_attempt_for_good_and_removes_the_job() -> None:
    run = running_run()
    job = run.nodes["a"].job or ""
    message = 'Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'
    observer = JobObserver(FakeApi({}, []), refused_views(job, message), "ns", "uid-1")  # type: ignore[arg-type]
    seen = asyncio.run(observer.observe(run, COMPONENTS, T0))
    result = seen.results["a"]
    assert (result.state, result.reason, result.blame, result.permanent) == ("Failed", "PodRefused", False, True)
    assert seen.delete_jobs == [job]
