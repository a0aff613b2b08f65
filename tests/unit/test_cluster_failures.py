"""What the cluster does to a node's Pods, as the engine and the Job/Pod summaries see it: disruptions (a note on
the node, a retry that is not charged), and the Pod chosen for a Job's result when the Job replaced one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.test_render import job
from tests.unit.test_scheduler import comp, make_run, nodes

from switchyard.k8s import render
from switchyard.k8s.entries import JobEntry, pod_entry
from switchyard.k8s.observer import JobObserver
from switchyard.k8s.runtime import Views, best_pod
from switchyard.logic.podresult import message_budget, truncation
from switchyard.logic.scheduler import MAX_FREE_RETRIES, BreakerBook, JobResult
from switchyard.processors.output import MAX_RESULT_BYTES

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FRAGILE = {"c": comp(retry={"limit": 0, "backoff": {"initialSeconds": 1}}, circuitBreaker={"failureThreshold": 1})}


def disrupted(run: Any, node: str) -> JobResult:
    job = run.nodes[node].job or ""
    return JobResult(
        node, run.nodes[node].attempts, "Failed", job, T0, "Disrupted", "evicted", False, infrastructure=True
    )


def test_an_infrastructure_failure_is_retried_beyond_the_retry_limit_and_never_charged() -> None:
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, FRAGILE, book, T0)
    now = T0
    for attempt in range(1, MAX_FREE_RETRIES + 1):
        run.step({"a": disrupted(run, "a")}, FRAGILE, book, now)
        status = run.nodes["a"]
        assert (status.phase, status.reason, status.attempts) == ("Retrying", "Disrupted", attempt)
        now = status.next_retry_at or now
        plan = run.step({}, FRAGILE, book, now)
        assert [(x.node, x.attempt) for x in plan.launches] == [("a", attempt + 1)]
    assert book.state("c").state == "Closed" and book.failures.get("c", 0) == 0
    run.step({"a": disrupted(run, "a")}, FRAGILE, book, now)  # free retries used up: the retry limit applies
    assert run.nodes["a"].phase == "Failed" and book.state("c").state == "Closed"


def test_a_disruption_note_is_on_the_running_node_with_one_event() -> None:
    run, book = make_run(nodes(("a", []))), BreakerBook()
    run.step({}, FRAGILE, book, T0)
    note = JobResult("a", 1, "Active", run.nodes["a"].job or "", None, "Disrupted", "1 Pod(s) disrupted", False)
    plan = run.step({"a": note}, FRAGILE, book, T0)
    status = run.nodes["a"]
    assert (status.phase, status.reason, status.message) == ("Running", "Disrupted", "1 Pod(s) disrupted")
    assert [e[1] for e in plan.events] == ["Disrupted"] and "a" in plan.changed
    assert run.step({"a": note}, FRAGILE, book, T0 + timedelta(seconds=1)).events == []  # said once
    assert book.state("c").state == "Closed"


def pod(name: str, phase: str, message: str, disruption: bool = False) -> dict[str, Any]:
    conditions = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]
    terminated = {"exitCode": 0 if phase == "Succeeded" else 143, "message": message, "reason": "Error"}
    return {
        "metadata": {"name": name, "labels": {"batch.kubernetes.io/job-name": "j"}},
        "status": {
            "phase": phase,
            "conditions": conditions if disruption else [],
            "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}],
        },
    }


def test_the_result_is_the_replacement_pods_not_the_disrupted_ones() -> None:
    evicted = pod_entry(pod("j-1", "Failed", "", disruption=True))
    done = pod_entry(pod("j-2", "Succeeded", "out"))
    assert evicted is not None and evicted.disrupted == "EvictionByEvictionAPI"
    assert done is not None and not done.disrupted
    assert best_pod([done, evicted]) is done and best_pod([evicted, done]) is done
    assert best_pod([evicted]) is evicted


def test_jobs_ignore_disrupted_pods_in_their_pod_failure_policy() -> None:
    spec = job()["spec"]
    assert spec["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    }
    assert spec["podReplacementPolicy"] == "Failed" and spec["template"]["spec"]["restartPolicy"] == "Never"
    assert render.MOUNT == "/switchyard"


def test_a_message_filling_the_kubelets_budget_may_be_cut() -> None:
    assert truncation("x" * 4095, 1) is None  # a processor's largest result (MAX_RESULT_BYTES) is whole
    assert truncation("x" * 4096, 1) is not None
    assert truncation("é" * 2048, 1) is not None  # bytes, not characters
    assert message_budget(2) == 4096 and message_budget(4) == 3072  # 12 KiB shared by the containers
    assert truncation("x" * 3072, 4) is not None and truncation("x" * 3071, 4) is None
    assert message_budget(3) > MAX_RESULT_BYTES


def test_upstream_outputs_are_required_mounts() -> None:
    sources = job(deps=["a", "c"])["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
    upstream = [s["configMap"] for s in sources if "configMap" in s and s["configMap"]["name"] == "wf-outputs"]
    assert upstream and all("optional" not in source for source in upstream)  # the kubelet waits for the key


def test_node_pods_opt_out_of_sidecar_injection_unless_allowed() -> None:
    template = job()["spec"]["template"]["metadata"]
    assert template["labels"]["sidecar.istio.io/inject"] == "false"
    assert render.NO_INJECTION_ANNOTATIONS.items() <= template["annotations"].items()
    allowed = job(sidecar_injection=True)["spec"]["template"]["metadata"]
    assert "sidecar.istio.io/inject" not in allowed["labels"]
    assert not set(render.NO_INJECTION_ANNOTATIONS) & set(allowed["annotations"])
    assert "sidecar.istio.io/inject" not in job()["metadata"]["labels"]  # the Job's own labels stay the selector's


def test_allow_sidecar_injection_is_an_operator_option() -> None:
    from switchyard.config import Options

    assert Options.from_args([]).allow_sidecar_injection is False
    assert Options.from_args(["--allow-sidecar-injection"]).allow_sidecar_injection is True


def observed(job_state: str, reason: str, pods: list[Any], component: dict[str, Any], now: datetime) -> Any:
    """What the observer makes of node a's Job (`job_state`/`reason`) and its Pods, at `now`."""
    from tests.unit.test_k8s_observer import FakeApi, running_run

    run = running_run()
    name = run.nodes["a"].job or ""
    finished = None if job_state == "Active" else T0
    entry = JobEntry(name, "wf", "a", 1, job_state, finished, reason, owner_uid="uid-1", created_at=T0)  # type: ignore[arg-type]
    entries = [
        pod_entry({**p, "metadata": {"name": "p", "labels": {"batch.kubernetes.io/job-name": name}}}) for p in pods
    ]
    store = Views(components={}, jobs={("ns", name): [entry]}, pods={("ns", name): entries})  # type: ignore[arg-type]
    observer = JobObserver(FakeApi({}, []), store, "ns", "uid-1")  # type: ignore[arg-type]
    components = {"c": comp(**component)}
    return asyncio.run(observer.observe(run, components, now))


def main_pod(phase: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]}}


def test_timeout_seconds_counts_from_the_container_start_not_the_job_start() -> None:
    started = T0 + timedelta(seconds=50)  # 50 s Pending (scheduling, image pull) first
    running = main_pod("Running", {"running": {"startedAt": started.isoformat()}})
    seen = observed("Active", "", [running], {"timeoutSeconds": 30}, T0 + timedelta(seconds=60))
    assert seen.results == {} and seen.wake_at == started + timedelta(seconds=30)
    seen = observed("Active", "", [running], {"timeoutSeconds": 30}, started + timedelta(seconds=30))
    result = seen.results["a"]
    assert (result.state, result.reason, result.blame) == ("Failed", "DeadlineExceeded", True)
    assert "ran longer than timeoutSeconds (30s)" in result.message and seen.delete_jobs == [result.job]


def test_a_job_deadline_hit_before_the_container_ran_is_the_clusters() -> None:
    never = main_pod("Failed", {"waiting": {"reason": "ContainerCreating"}})
    result = observed("Failed", "DeadlineExceeded", [never], {"timeoutSeconds": 30}, T0).results["a"]
    assert (result.reason, result.blame, result.infrastructure) == ("DeadlineExceeded", False, True)
    ran = main_pod("Failed", {"terminated": {"exitCode": 143, "startedAt": T0.isoformat(), "message": ""}})
    result = observed("Failed", "DeadlineExceeded", [ran], {"timeoutSeconds": 30}, T0).results["a"]
    assert (result.reason, result.blame, result.infrastructure) == ("DeadlineExceeded", True, False)


def test_the_jobs_own_deadline_is_a_looser_backstop() -> None:
    spec = job({"timeoutSeconds": 30, "pendingTimeoutSeconds": 120})["spec"]
    assert spec["activeDeadlineSeconds"] == 150


def test_a_job_is_finished_only_by_its_terminal_condition_not_the_1_31_precursors() -> None:
    from switchyard.k8s.entries import job_entry

    def entry(*conditions: str) -> Any:
        meta = {
            "name": "j",
            "labels": {"switchyard.dev/node": "a", "switchyard.dev/attempt": "1"},
            "annotations": {"switchyard.dev/workflow": "wf"},
        }
        status = {"conditions": [{"type": c, "status": "True", "reason": "R"} for c in conditions], "succeeded": 1}
        return job_entry({"metadata": meta, "status": status})

    assert entry("SuccessCriteriaMet").state == "Active"  # its Pod may still be terminating
    assert entry("FailureTarget").state == "Active"
    assert entry("SuccessCriteriaMet", "Complete").state == "Succeeded"
    assert entry("FailureTarget", "Failed").state == "Failed"
