"""Where real clusters and hostile or careless users break an operator (issue 7): each test failed before its fix.

Name squatting and foreign Jobs, recreated Workflows, lost Pods, leaked HalfOpen trials, broken fallbacks,
Jobs the API refuses, Pods that never start, oversized messages and configs, and stop on request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard.k8s import render
from switchyard.logic import naming
from switchyard.models.component import ComponentSpec
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]

NO_RETRY = {"limit": 0}


def node(name: str, *deps: str, component: str = "proc", **extra: Any) -> dict[str, Any]:
    return {"name": name, "component": component, "dependsOn": list(deps), **extra}


def uid_of(kube: Kube, name: str) -> str:
    return str(kube.get("Workflow", name)["metadata"]["uid"])


def breaker(kube: Kube, component: str) -> dict[str, Any]:
    return kube.status("Component", component).get("breaker") or {}


def reasons(kube: Kube, name: str) -> list[str]:
    return [e.reason for e in kube.events(name)]


# -- 1, 2: names are unique and never taken over ----------------------------------------------------


def test_a_foreign_job_under_a_nodes_name_is_an_error_on_that_node_never_its_result(
    kube: Kube, sim: JobSimulator
) -> None:
    kube.component("proc", retry={"limit": 1, "backoff": {"initialSeconds": 1}})
    sim.rule = lambda job: Outcome(delay=2.0) if job.node == "a" else None
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a"), node("b", "a")]})
    squatted = naming.job_name("wf", uid_of(kube, "wf"), "b", 1, 1)
    foreign = {
        "metadata": {"name": squatted, "labels": {"switchyard.dev/workflow": "wf", "switchyard.dev/node": "b"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "evil:1"}]}}},
    }
    kube.batch.create_namespaced_job(kube.namespace, foreign)
    status = kube.wait_phase("wf", "Succeeded", timeout=45)
    assert status["nodes"]["b"]["attempts"] == 2, status["nodes"]["b"]
    kept = kube.batch.read_namespaced_job(squatted, kube.namespace)
    assert kept.spec.template.spec.containers[0].image == "evil:1"  # left alone, never adopted
    retry = next(e for e in kube.events("wf") if e.reason == "NodeRetrying")
    assert "ForeignJob" in retry.message or "not this node" in retry.message, retry.message
    assert breaker(kube, "proc").get("consecutiveFailures", 0) == 0  # not the component's failure


def test_a_squatted_configmap_is_never_read_or_written(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    squat = {"metadata": {"name": "wf-outputs"}, "data": {"a": "planted"}}
    kube.core.create_namespaced_config_map(kube.namespace, squat)
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a")]})
    status = kube.wait_phase("wf", "Invalid")
    assert "ConfigMap 'wf-outputs' already exists and is not owned by this Workflow" in status["message"]
    assert kube.wait_event("wf", "NameTaken").type == "Warning"
    assert kube.configmap("wf-outputs") == {"a": "planted"}
    assert kube.jobs() == []


def test_a_recreated_workflow_never_reuses_its_namesakes_jobs_or_configmaps(
    kube: Kube, sim: JobSimulator, emulated_cluster: EmulatedCluster
) -> None:
    """A real garbage collector removes a deleted Workflow's children some time later; until then they hold
    the names. Here the emulator's collector is paused until the new Workflow is seen waiting."""
    kube.component("proc")
    sim.rule = lambda job: Outcome(message=f"run of {job.files.get('switchyard/input')}")
    kube.create("Workflow", "wf", {"input": {"data": "first"}, "nodes": [node("a")]})
    first = kube.wait_phase("wf", "Succeeded")
    first_uid = uid_of(kube, "wf")
    with emulated_cluster.garbage_collector_paused():
        kube.custom.delete_namespaced_custom_object("switchyard.dev", "v1alpha1", kube.namespace, "workflows", "wf")
        wait_for(lambda: not kube.custom.list_namespaced_custom_object(
            "switchyard.dev", "v1alpha1", kube.namespace, "workflows")["items"], 15, what="deleted")  # fmt: skip
        assert kube.configmap("wf-input")["input"] == "first"  # not collected yet
        kube.create("Workflow", "wf", {"input": {"data": "second"}, "nodes": [node("a")]})
        waiting = wait_for(
            lambda: (
                "waiting for the garbage collector" in ((s := kube.status("Workflow", "wf")).get("message") or "") and s
            ),
            30,
            what="the new Workflow waiting for its namesake's ConfigMaps",
        )
        assert waiting["phase"] == "Pending"
        assert [j.metadata.name for j in kube.jobs()] == [first["nodes"]["a"]["job"]]  # nothing started yet
    status = kube.wait_phase("wf", "Succeeded", timeout=30)  # the collector caught up
    assert uid_of(kube, "wf") != first_uid
    assert kube.configmap("wf-outputs")["a"] == "run of second"
    assert kube.configmap("wf-input")["input"] == "second"
    assert status["nodes"]["a"]["job"] != first["nodes"]["a"]["job"]  # the old one was never adopted
    jobs = {j.metadata.name: j for j in kube.jobs()}
    assert set(jobs) == {status["nodes"]["a"]["job"]}
    assert jobs[status["nodes"]["a"]["job"]].metadata.owner_references[0].uid == uid_of(kube, "wf")


def test_a_workflow_recreated_over_its_namesakes_orphans_is_invalid(kube: Kube, sim: JobSimulator) -> None:
    """`kubectl delete --cascade=orphan` leaves the ConfigMaps owned by nobody: squatters like any other."""
    kube.component("proc")
    kube.create("Workflow", "wf", {"input": {"data": "first"}, "nodes": [node("a")]})
    kube.wait_phase("wf", "Succeeded")
    kube.custom.delete_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflows", "wf", propagation_policy="Orphan"
    )
    wait_for(lambda: not kube.custom.list_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflows")["items"], 15, what="deleted")  # fmt: skip
    kube.create("Workflow", "wf", {"input": {"data": "second"}, "nodes": [node("a")]})
    status = kube.wait_phase("wf", "Invalid")
    assert "ConfigMap 'wf-input' already exists and is not owned by this Workflow" in status["message"]
    assert kube.configmap("wf-input")["input"] == "first"  # never written


# -- 4: no silent data loss --------------------------------------------------------------------------


def test_a_succeeded_job_whose_pod_vanished_runs_again(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 2, "backoff": {"initialSeconds": 1}})
    sim.rule = lambda job: Outcome(lose_pod=job.attempt == 1, message=f"out-{job.attempt}")
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a")]})
    status = kube.wait_phase("wf", "Succeeded", timeout=45)
    assert status["nodes"]["a"]["attempts"] == 2
    assert kube.configmap("wf-outputs")["a"] == "out-2"  # never an empty output
    retry = next(e for e in kube.events("wf") if e.reason == "NodeRetrying")
    assert "OutputLost" in retry.message or "output was lost" in retry.message, retry.message


# -- 5, 6: breakers never stick, fallbacks never crash -----------------------------------------------

BREAKER = {"failureThreshold": 1, "openSeconds": 1, "halfOpenMaxRuns": 1}


def open_the_breaker(kube: Kube, sim: JobSimulator, component: str) -> None:
    sim.rule = lambda job: Outcome(succeed=False, message="boom") if job.workflow == "opener" else None
    kube.create("Workflow", "opener", {"input": {"data": "x"}, "nodes": [node("a", component=component)]})
    kube.wait_phase("opener", "Failed")
    wait_for(lambda: breaker(kube, component).get("state") == "Open", 15, what=f"{component} breaker Open")


def wait_half_open_due(kube: Kube, component: str) -> None:
    """Until the open period (BREAKER's openSeconds) has passed: the next node is a trial."""
    opened = datetime.fromisoformat(breaker(kube, component)["openedAt"].replace("Z", "+00:00"))
    due = opened + timedelta(seconds=BREAKER["openSeconds"] + 1)
    wait_for(lambda: datetime.now(UTC) > due, 10, what="the open period to pass")


def test_a_half_open_trial_ended_by_the_workflow_deadline_frees_its_slot(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry=NO_RETRY, circuitBreaker=BREAKER)
    open_the_breaker(kube, sim, "proc")
    sim.rule = lambda job: Outcome(delay=120) if job.workflow == "slow" else None
    spec = {"input": {"data": "x"}, "nodes": [node("a")], "activeDeadlineSeconds": 4}
    wait_half_open_due(kube, "proc")
    kube.create("Workflow", "slow", spec)
    # HalfOpen alone says only that the open period ended (a timer does that): wait for the trial itself
    wait_for(lambda: breaker(kube, "proc").get("trials"), 20, what="a trial in flight")
    assert breaker(kube, "proc")["state"] == "HalfOpen" and breaker(kube, "proc")["trials"][0]["workflow"] == "slow"
    status = kube.wait_phase("slow", "Failed", timeout=20)
    assert status["nodes"]["a"]["reason"] == "DeadlineExceeded"
    wait_for(lambda: not breaker(kube, "proc").get("trials"), 15, what="the trial slot released")
    kube.create("Workflow", "after", {"input": {"data": "x"}, "nodes": [node("a")]})
    kube.wait_phase("after", "Succeeded")  # before the fix: rejected forever (CircuitOpen)
    wait_for(lambda: breaker(kube, "proc").get("state") == "Closed", 15, what="closed by the next trial")


def test_a_half_open_trial_of_a_deleted_workflow_frees_its_slot(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry=NO_RETRY, circuitBreaker=BREAKER)
    open_the_breaker(kube, sim, "proc")
    sim.rule = lambda job: Outcome(delay=120) if job.workflow == "doomed" else None
    wait_half_open_due(kube, "proc")
    kube.create("Workflow", "doomed", {"input": {"data": "x"}, "nodes": [node("a")]})
    wait_for(lambda: breaker(kube, "proc").get("trials"), 20, what="a trial in flight")
    kube.custom.delete_namespaced_custom_object("switchyard.dev", "v1alpha1", kube.namespace, "workflows", "doomed")
    wait_for(lambda: not breaker(kube, "proc").get("trials"), 15, what="the trial slot released")
    kube.create("Workflow", "after", {"input": {"data": "x"}, "nodes": [node("a")]})
    kube.wait_phase("after", "Succeeded")


def test_a_component_change_resets_its_breaker(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry=NO_RETRY, circuitBreaker={**BREAKER, "openSeconds": 3600})
    open_the_breaker(kube, sim, "proc")
    kube.custom.patch_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "components", "proc", {"spec": {"image": "example.com/proc:2"}}
    )
    wait_for(lambda: breaker(kube, "proc").get("state") == "Closed", 15, what="breaker reset")
    event = wait_for(
        lambda: next((e for e in kube.events("proc") if "component changed" in (e.message or "")), None),
        15,
        what="the reset Event",
    )
    assert event.reason == "CircuitBreaker"
    kube.create("Workflow", "after", {"input": {"data": "x"}, "nodes": [node("a")]})
    kube.wait_phase("after", "Succeeded")


def ready(kube: Kube, component: str) -> dict[str, Any] | None:
    conditions = kube.status("Component", component).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def test_broken_fallbacks_make_the_component_not_ready_and_fail_the_node_clearly(kube: Kube, sim: JobSimulator) -> None:
    kube.component("selfish", fallback={"component": "selfish"})
    kube.component("proc", retry=NO_RETRY, circuitBreaker={**BREAKER, "openSeconds": 3600},
                   fallback={"component": "ghost"})  # fmt: skip
    wait_for(lambda: (r := ready(kube, "selfish")) and r["status"] == "False", 15, what="selfish not Ready")
    assert "is this component itself" in ready(kube, "selfish")["message"]  # type: ignore[index]
    wait_for(lambda: (r := ready(kube, "proc")) and r["status"] == "False", 15, what="proc not Ready")
    assert ready(kube, "proc")["reason"] == "FallbackInvalid"  # type: ignore[index]
    open_the_breaker(kube, sim, "proc")
    kube.create("Workflow", "needs-fallback", {"input": {"data": "x"}, "nodes": [node("a")]})
    status = kube.wait_phase("needs-fallback", "Failed")
    assert status["nodes"]["a"]["reason"] == "FallbackUnavailable"
    assert "fallback component 'ghost' is missing or invalid" in status["nodes"]["a"]["message"]
    kube.component("ghost")  # the fallback appears: the referrer becomes Ready
    wait_for(lambda: (r := ready(kube, "proc")) and r["status"] == "True", 15, what="proc Ready again")


# -- 7, 8: the cluster says no, or the Pod never starts -----------------------------------------------


def test_a_job_refused_for_quota_waits_without_using_retries_or_the_breaker(
    kube: Kube, sim: JobSimulator, emulated_cluster: EmulatedCluster
) -> None:
    kube.component("proc", retry=NO_RETRY, circuitBreaker={"failureThreshold": 1})
    quota = 'jobs "x" is forbidden: exceeded quota: compute, requested: count/jobs.batch=1, limited: =0'
    fault = emulated_cluster.faults.inject(
        method="POST", path_regex=f"/namespaces/{kube.namespace}/jobs$", status=403, times=2, message=quota
    )
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a")]})
    refused = wait_for(
        lambda: (n := kube.status("Workflow", "wf").get("nodes", {}).get("a", {})).get("reason") == "Forbidden" and n,
        20,
        what="the refusal on the node",
    )
    assert refused["phase"] == "Retrying" and "exceeded quota" in refused["message"]
    status = kube.wait_phase("wf", "Succeeded", timeout=40)
    assert fault.hits == 2
    assert status["nodes"]["a"]["attempts"] == 1  # the refusals used no attempt (retry limit is 0)
    assert breaker(kube, "proc").get("state", "Closed") == "Closed"
    assert "JobRejected" in reasons(kube, "wf")


def test_a_job_the_api_rejects_as_invalid_fails_the_node_with_the_apis_words(
    kube: Kube, sim: JobSimulator, emulated_cluster: EmulatedCluster
) -> None:
    kube.component("proc", retry=NO_RETRY, circuitBreaker={"failureThreshold": 1})
    denial = 'admission webhook "policy.example.com" denied the request: images must come from registry.corp'
    emulated_cluster.faults.inject(
        method="POST", path_regex=f"/namespaces/{kube.namespace}/jobs$", status=422, times=1, message=denial
    )
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a")]})
    status = kube.wait_phase("wf", "Failed", timeout=30)
    assert status["nodes"]["a"]["reason"] == "Invalid"  # the one injected refusal was used
    assert "images must come from registry.corp" in status["nodes"]["a"]["message"]
    assert breaker(kube, "proc").get("consecutiveFailures", 0) == 0  # the cluster's refusal, not the component's
    kube.create("Workflow", "next", {"input": {"data": "x"}, "nodes": [node("a")]})
    kube.wait_phase("next", "Succeeded")  # the breaker did not open


def test_pods_that_never_start_fail_their_attempt_after_the_pending_timeout(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", pendingTimeoutSeconds=10, retry={"limit": 1, "backoff": {"initialSeconds": 1}})

    def rule(job: SimJob) -> Outcome | None:
        if job.attempt == 1:
            return Outcome(waiting="ImagePullBackOff" if job.node == "pull" else "NoPod")
        return None

    sim.rule = rule
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("pull"), node("nopod")]})
    status = kube.wait_phase("wf", "Succeeded", timeout=60)
    assert status["nodes"]["pull"]["attempts"] == status["nodes"]["nopod"]["attempts"] == 2
    messages = [e.message for e in kube.events("wf") if e.reason == "NodeRetrying"]
    assert any("ImagePullBackOff" in m and "pendingTimeoutSeconds" in m for m in messages), messages
    assert any("no Pod was created" in m for m in messages), messages
    first_jobs = {naming.job_name("wf", uid_of(kube, "wf"), n, i, 1) for i, n in enumerate(["pull", "nopod"])}
    assert first_jobs.isdisjoint({j.metadata.name for j in kube.jobs()})  # the stuck Jobs were removed


# -- 10, 16: oversized input gets a clear status, never a crash loop -----------------------------------


def test_a_cycle_message_longer_than_the_schema_allows_still_reaches_status(kube: Kube) -> None:
    kube.component("proc")
    names = [f"n{i:02d}-" + "x" * 58 for i in range(30)]
    nodes = [node(name, names[i - 1]) for i, name in enumerate(names)]  # n00 depends on n29: one long cycle
    kube.create("Workflow", "loop", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("loop", "Invalid", timeout=20)
    assert status["message"].startswith("dependency cycle: ") and status["message"].endswith("...")
    assert len(status["message"]) <= 1024


def test_a_rule_with_a_huge_compile_error_is_reported_invalid(kube: Kube) -> None:
    kube.create("RoutingRule", "noisy", {"when": "input.size >>> " + "(" * 1000, "path": ["proc"]})  # 6,900-char error
    status = wait_for(lambda: (s := kube.status("RoutingRule", "noisy")).get("valid") is False and s, 20, what="rule")
    assert status["message"].startswith("CEL compile error") and len(status["message"]) <= 1024


def test_a_node_config_too_large_for_a_job_is_the_workflows_error(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", circuitBreaker={"failureThreshold": 1})
    big = {"blob": "x" * (render.MAX_CONFIG_BYTES + 10)}
    kube.create("Workflow", "fat", {"input": {"data": "x"}, "nodes": [node("a", config=big)]})
    status = kube.wait_phase("fat", "Invalid")
    assert "merged config of node 'a'" in status["message"]
    assert any(c["type"] == "Valid" and c["reason"] == "ConfigTooLarge" for c in status["conditions"])
    assert kube.jobs() == []
    assert breaker(kube, "proc").get("state", "Closed") == "Closed"


# -- 12: an adopted, already finished Job is observed at once -------------------------------------------


def test_an_adopted_job_that_already_finished_is_observed_in_the_same_pass(kube: Kube, sim: JobSimulator) -> None:
    """As after a crash between creating a Job and recording it: the Job exists, ours, finished."""
    kube.create("Component", "proc", {"image": "example.com/proc:1"})
    sim.rule = lambda job: Outcome(delay=3.0) if job.node == "a" else Outcome(message="early b")
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a"), node("b", "a")]})
    body = kube.get("Workflow", "wf")
    name = naming.job_name("wf", body["metadata"]["uid"], "b", 1, 1)
    early = render.job(
        body,
        name=name,
        node="b",
        attempt=1,
        component_name="proc",
        component=ComponentSpec.model_validate({"image": "example.com/proc:1"}),
        node_config={},
        deps=["a"],
        input_source=(naming.input_configmap("wf"), "input"),
        output_shards=1,
    )
    kube.batch.create_namespaced_job(kube.namespace, early)
    wait_for(lambda: sim.is_finished(name), 10, what="b's Job finished before the operator launches b")
    a_done = wait_for(
        lambda: kube.status("Workflow", "wf").get("nodes", {}).get("a", {}).get("phase") == "Succeeded", 20, what="a"
    )
    assert a_done
    status = kube.wait_phase("wf", "Succeeded", timeout=10)  # the resync is 30 s: this is the same pass
    assert status["nodes"]["b"]["attempts"] == 1
    assert kube.configmap("wf-outputs")["b"] == "early b"
    # the early Job's Pod waited for a's output (a required mount, as a kubelet holds it): that wait is this
    # scenario's, not a missing output the operator should have written
    assert sim.mount_waits and all(pod.startswith(name) for pod in sim.mount_waits), sim.mount_waits
    sim.mount_waits.clear()


# -- stop on request ------------------------------------------------------------------------------------


def test_the_stop_annotation_deletes_running_jobs_and_fails_with_stopped(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=120)
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a"), node("b", "a")]})
    wait_for(lambda: kube.jobs(), 15, what="a's Job")
    kube.custom.patch_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflows", "wf",
        {"metadata": {"annotations": {"switchyard.dev/stop": "no longer needed"}}},
    )  # fmt: skip
    status = kube.wait_phase("wf", "Failed", timeout=15)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "Stopped" and "no longer needed" in failed["message"]
    assert status["nodes"]["a"]["reason"] == "Stopped" and status["nodes"]["b"]["phase"] == "Skipped"
    wait_for(lambda: kube.jobs() == [], 15, what="running Jobs deleted")
