"""What a real cluster does to Pods, met by the operator: disruptions (eviction, preemption, drain) are not the
Component's failure; timeouts count from when the container runs; sidecars; kubelet termination-message cuts;
upstream outputs required by the Pod."""

from __future__ import annotations

import json
import pathlib

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def one_node(kube: Kube, wf: str, component: str) -> None:
    kube.create("Workflow", wf, {"input": {"data": "x"}, "nodes": [{"name": "n", "component": component}]})


def fragile(kube: Kube, name: str) -> None:
    """A component whose breaker opens at its first failure, with no retries of its own."""
    kube.component(
        name, retry={"limit": 0}, circuitBreaker={"failureThreshold": 1, "openSeconds": 300, "halfOpenMaxRuns": 1}
    )


def test_evicted_pods_are_replaced_and_never_charged_to_the_breaker(kube: Kube, sim: JobSimulator) -> None:
    fragile(kube, "evictable")
    sim.rule = lambda job: Outcome(disruptions=1, message='{"ok": true}')
    for wf in ("ev-1", "ev-2"):
        one_node(kube, wf, "evictable")
        status = kube.wait_phase(wf, "Succeeded", "Failed")
        assert status["phase"] == "Succeeded", status["nodes"]["n"]
        assert status["nodes"]["n"]["attempts"] == 1  # the Job replaced the Pod: the same attempt
        event = kube.wait_event(wf, "Disrupted")
        assert "TerminationByKubelet" in event.message
    assert len(sim.disruptions) == 2
    assert (kube.status("Component", "evictable").get("breaker") or {}).get("state", "Closed") == "Closed"
    job = kube.jobs()[0]
    assert job.spec.pod_failure_policy.rules[0].action == "Ignore"


def test_a_disrupted_job_on_a_cluster_without_pod_failure_policy_runs_again_uncharged(
    kube: Kube, sim: JobSimulator
) -> None:
    fragile(kube, "oldcluster")
    sim.pod_failure_policy = False  # before 1.26 (or the feature off): the eviction fails the Job
    sim.rule = lambda job: Outcome(disruptions=1 if job.attempt == 1 else 0)
    one_node(kube, "old", "oldcluster")
    status = kube.wait_phase("old", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status["nodes"]["n"]
    assert status["nodes"]["n"]["attempts"] == 2  # retry limit 0, yet run again: the cluster's doing
    retrying = kube.wait_event("old", "NodeRetrying")
    assert "Disrupted" in retrying.message or "disrupted" in retrying.message
    assert (kube.status("Component", "oldcluster").get("breaker") or {}).get("state", "Closed") == "Closed"
    assert kube.status("Component", "oldcluster").get("failures", 0) == 0


def test_an_output_that_fills_the_kubelets_limit_is_not_passed_downstream(kube: Kube, sim: JobSimulator) -> None:
    kube.component("chatty", retry={"limit": 0})
    whole = "w" * 4095  # a processor's largest result (processors.output.MAX_RESULT_BYTES)
    sim.rule = lambda job: Outcome(message="h" * 6000 + "tail") if job.node == "big" else Outcome(message=whole)
    nodes = [
        {"name": "big", "component": "chatty"},
        {"name": "after", "component": "chatty", "dependsOn": ["big"]},
        {"name": "fits", "component": "chatty"},
    ]
    kube.create("Workflow", "cut", {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "Continue"})
    status = kube.wait_phase("cut", "Failed")
    big = status["nodes"]["big"]
    assert big["reason"] == "OutputTruncated" and "4096" in big["message"]
    assert status["nodes"]["after"]["phase"] == "Skipped"
    assert status["nodes"]["fits"]["phase"] == "Succeeded"
    outputs = kube.configmap(status["outputs"][0])
    assert "big" not in outputs and outputs["fits"] == whole


def test_a_lagging_kubelet_cache_holds_the_pod_until_its_upstream_output_is_there(
    kube: Kube, kubeconfig: pathlib.Path
) -> None:
    """y's Pod puts the outputs ConfigMap (x's output only) in the kubelet's cache; b starts while that copy
    is served: its Pod must wait for a's output, never run without it."""
    kube.component("proc")
    delays = {"a": 1.0}
    nodes = [
        {"name": "x", "component": "proc"},
        {"name": "y", "component": "proc", "dependsOn": ["x"]},
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
    ]
    with JobSimulator(kubeconfig, namespace=kube.namespace, configmap_ttl=4.0) as lagging:
        lagging.rule = lambda job: Outcome(delay=delays.get(job.node or "", 0.05))
        kube.create("Workflow", "lag", {"input": {"data": "x"}, "nodes": nodes})
        status = kube.wait_phase("lag", "Succeeded", "Failed", timeout=40)
    assert status["phase"] == "Succeeded"
    outputs = kube.configmap(status["outputs"][0])
    assert json.loads(outputs["b"])["upstream"] == {"a": outputs["a"]}
    assert "b" in " ".join(lagging.mount_waits)  # it did wait, in ContainerCreating


def test_node_pods_opt_out_of_sidecar_injection(kube: Kube, kubeconfig: pathlib.Path) -> None:
    kube.component("proc")
    with JobSimulator(kubeconfig, namespace=kube.namespace, sidecars=True) as meshed:
        kube.create("Workflow", "mesh", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "proc"}]})
        assert kube.wait_phase("mesh", "Succeeded", "Failed")["phase"] == "Succeeded"
        assert meshed.errors == []
    [pod] = kube.core.list_namespaced_pod(kube.namespace).items
    assert [c.name for c in pod.spec.containers] == ["main"]
    assert pod.metadata.annotations["sidecar.istio.io/inject"] == "false"
    assert pod.metadata.annotations["linkerd.io/inject"] == "disabled"
    assert pod.metadata.annotations["vault.hashicorp.com/agent-inject"] == "false"


def test_a_node_ends_when_its_main_container_does_though_a_sidecar_keeps_running(
    kube: Kube, kubeconfig: pathlib.Path
) -> None:
    """An injector that ignores the opt-outs: the Pod stays Running and its Job active after main exits."""
    kube.component("proc", retry={"limit": 0})
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
        {"name": "bad", "component": "proc"},
    ]
    with JobSimulator(kubeconfig, namespace=kube.namespace, sidecars="always") as meshed:
        meshed.rule = lambda job: Outcome(succeed=False, message="no") if job.node == "bad" else None
        kube.create("Workflow", "held", {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "Continue"})
        status = kube.wait_phase("held", "Succeeded", "Failed")
    phases = {n: (s["phase"], s.get("reason")) for n, s in status["nodes"].items()}
    assert phases == {"a": ("Succeeded", None), "b": ("Succeeded", None), "bad": ("Failed", "Error")}
    outputs = kube.configmap(status["outputs"][0])
    assert json.loads(outputs["b"])["upstream"] == {"a": outputs["a"]}
    wait_for(lambda: kube.jobs() == [], 20, what="the held Jobs deleted (their sidecars stop)")


def test_timeout_seconds_starts_when_the_container_runs(kube: Kube, sim: JobSimulator) -> None:
    """A slow image pull does not eat the Component's timeout; a container running too long still fails."""
    kube.component("slowpull", retry={"limit": 0}, timeoutSeconds=2, pendingTimeoutSeconds=30)
    sim.rule = lambda job: Outcome(pending=3.0, delay=0.5) if job.workflow == "pull" else Outcome(delay=60)
    one_node(kube, "pull", "slowpull")
    status = kube.wait_phase("pull", "Succeeded", "Failed", timeout=40)
    assert status["phase"] == "Succeeded", status["nodes"]["n"]
    job = next(j for j in kube.jobs() if j.metadata.labels["switchyard.dev/workflow"] == "pull")
    assert job.spec.active_deadline_seconds == 2 + 30  # the Job's own deadline is only a backstop
    one_node(kube, "hang", "slowpull")
    status = kube.wait_phase("hang", "Succeeded", "Failed", timeout=20)
    node = status["nodes"]["n"]
    assert (node["phase"], node["reason"]) == ("Failed", "DeadlineExceeded")
    assert "ran longer than timeoutSeconds (2s)" in node["message"]
    wait_for(lambda: not [j for j in kube.jobs() if j.metadata.labels["switchyard.dev/workflow"] == "hang"], 20)
