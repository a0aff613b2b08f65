"""End to end against the emulated API: DAGs, routing, outputs, retries, breakers, failure policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def node_starts(sim: JobSimulator, namespace: str) -> list[tuple[str | None, int | None]]:
    return [(s.node, s.attempt) for s in sim.started if s.namespace == namespace]


def order_of(sim: JobSimulator, namespace: str) -> dict[str | None, int]:
    return {node: i for i, (node, _) in enumerate(node_starts(sim, namespace))}


def finished_at(sim: JobSimulator, node: str) -> float:
    return max(f.at for f in sim.finished if f.node == node)


def started_at(sim: JobSimulator, node: str, attempt: int = 1) -> float:
    return next(s.at for s in sim.started if s.node == node and s.attempt == attempt)


def test_diamond_runs_in_order_and_passes_outputs_downstream(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", config={"mode": "fast", "level": 1})
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"], "config": {"level": 2}},
        {"name": "c", "component": "proc", "dependsOn": ["a"]},
        {"name": "d", "component": "proc", "dependsOn": ["b", "c"]},
    ]
    kube.create("Workflow", "diamond", {"input": {"data": "hello"}, "nodes": nodes})
    status = kube.wait_phase("diamond", "Succeeded")
    assert status["progress"] == "4/4"
    assert {n: s["phase"] for n, s in status["nodes"].items()} == dict.fromkeys("abcd", "Succeeded")
    for cond in ("Valid", "Routed", "Complete"):
        assert any(c["type"] == cond and c["status"] == "True" for c in status["conditions"]), cond
    # dependency order: b and c only after a finished; d only after both
    assert started_at(sim, "b") >= finished_at(sim, "a") and started_at(sim, "c") >= finished_at(sim, "a")
    assert started_at(sim, "d") >= max(finished_at(sim, "b"), finished_at(sim, "c"))
    # outputs: d saw b's and c's outputs as files; b saw a's; all are in the outputs ConfigMap
    outputs = kube.configmap(status["outputs"][0])
    d_out = json.loads(outputs["d"])
    assert set(d_out["upstream"]) == {"b", "c"}
    assert json.loads(d_out["upstream"]["b"])["upstream"] == {"a": outputs["a"]}
    assert json.loads(status["nodes"]["a"]["output"])["node"] == "a"
    # the Job: one per (node, attempt), labelled, owned, restricted, with the merged config
    jobs = {j.metadata.labels["switchyard.dev/node"]: j for j in kube.jobs()}
    assert sorted(jobs) == ["a", "b", "c", "d"]
    job_b = jobs["b"]
    assert job_b.metadata.owner_references[0].kind == "Workflow" and job_b.metadata.owner_references[0].controller
    assert job_b.spec.backoff_limit == 0 and job_b.spec.template.spec.restart_policy == "Never"
    config = json.loads(job_b.spec.template.metadata.annotations["switchyard.dev/config"])
    assert config == {"mode": "fast", "level": 2}
    container = job_b.spec.template.spec.containers[0]
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert job_b.spec.template.spec.automount_service_account_token is False
    kube.wait_event("diamond", "Succeeded")


def test_multi_root_dag_with_parallelism(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=0.3)
    nodes = [{"name": f"r{i}", "component": "proc"} for i in range(4)]
    nodes.append({"name": "join", "component": "proc", "dependsOn": [f"r{i}" for i in range(4)]})
    kube.create("Workflow", "roots", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 2})
    kube.wait_phase("roots", "Succeeded", timeout=40)
    starts = sorted((s.at, "start") for s in sim.started if s.namespace == kube.namespace)
    ends = sorted((f.at, "end") for f in sim.finished if f.node and f.node.startswith("r"))
    running = peak = 0
    for _, what in sorted(starts + ends):
        running += 1 if what == "start" else -1
        peak = max(peak, running)
    assert peak <= 2, "parallelism 2 was exceeded"
    assert order_of(sim, kube.namespace)["join"] == 4


def test_routed_by_rule(kube: Kube, sim: JobSimulator) -> None:
    for name in ("json-processor", "chunking-processor", "data-validator"):
        kube.component(name)
    kube.create("RoutingRule", "small", {"priority": 1, "when": "input.size < 10", "path": ["data-validator"]})
    kube.create(
        "RoutingRule",
        "big",
        {"priority": 10, "when": "input.size > 50", "path": ["json-processor", "chunking-processor", "data-validator"]},
    )
    data = json.dumps({"kind": "order", "items": list(range(30))})
    kube.create("Workflow", "routed", {"input": {"data": data, "contentType": "application/json"}})
    status = kube.wait_phase("routed", "Succeeded")
    route = status["route"]
    assert route["rule"] == "big" and route["source"] == "Rule" and route["summary"] == "rule big"
    assert route["path"] == ["json-processor", "chunking-processor", "data-validator"]
    assert route["reason"] == f"input.size > 50 (size={len(data)})"
    assert [n for n, _ in node_starts(sim, kube.namespace)] == route["path"]
    wait_for(lambda: kube.status("RoutingRule", "big").get("matches") == 1, 20, what="rule match count")
    assert kube.status("RoutingRule", "big").get("lastMatchedAt")
    assert kube.status("RoutingRule", "small").get("matches", 0) == 0


def test_routed_by_analysis(kube: Kube, sim: JobSimulator) -> None:
    for name in ("json-processor", "chunking-processor", "numeric-processor", "data-validator"):
        kube.component(name)
    data = json.dumps({"values": list(range(400))})  # JSON, > 1000 bytes, digits
    kube.create("Workflow", "analysed", {"input": {"data": data}, "routing": {"analysis": True}})
    status = kube.wait_phase("analysed", "Succeeded")
    assert status["route"]["source"] == "Analysis" and status["route"]["summary"] == "analysis"
    assert status["route"]["path"] == ["json-processor", "chunking-processor", "numeric-processor", "data-validator"]
    assert [n for n, _ in node_starts(sim, kube.namespace)] == status["route"]["path"]


def test_retry_with_backoff_then_success(kube: Kube, sim: JobSimulator) -> None:
    kube.component("flaky", retry={"limit": 3, "backoff": {"initialSeconds": 1, "factor": 2, "maxSeconds": 10}})

    def rule(job: SimJob) -> Outcome:
        return Outcome(succeed=(job.attempt or 0) >= 3, message=f"attempt {job.attempt}")

    sim.rule = rule
    kube.create("Workflow", "retry", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "flaky"}]})
    retrying = kube.wait_phase("retry", "Running")
    wait_for(lambda: kube.status("Workflow", "retry")["nodes"]["n"].get("phase") == "Retrying", 20, what="Retrying")
    node = kube.status("Workflow", "retry")["nodes"]["n"]
    assert node.get("nextRetryAt") and node["attempts"] >= 1 and retrying
    status = kube.wait_phase("retry", "Succeeded", timeout=30)
    assert status["nodes"]["n"]["attempts"] == 3
    assert node_starts(sim, kube.namespace) == [("n", 1), ("n", 2), ("n", 3)]
    gap1 = started_at(sim, "n", 2) - next(f.at for f in sim.finished if f.attempt == 1)
    gap2 = started_at(sim, "n", 3) - next(f.at for f in sim.finished if f.attempt == 2)
    # delays 1 s then 2 s: never early. Late by at most the rounding up to whole seconds (status
    # timestamps) plus reaction time under load; far below the 30 s resync, so a retry that waited
    # for a resync instead of its own timer still fails here.
    assert 1.0 <= gap1 <= 6.0 and 2.0 <= gap2 <= 7.0
    kube.wait_event("retry", "NodeRetrying")


def test_failfast_skips_and_stops(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=job.node != "a", message="bad input" if job.node == "a" else None)
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
        {"name": "x", "component": "proc", "dependsOn": ["a"]},
        {"name": "slow", "component": "proc"},
        {"name": "after-slow", "component": "proc", "dependsOn": ["slow"]},
    ]
    sim.rule = lambda job: (
        Outcome(succeed=False, message="bad input")
        if job.node == "a"
        else Outcome(delay=1.0)
        if job.node == "slow"
        else None
    )
    kube.create("Workflow", "ff", {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "FailFast"})
    status = kube.wait_phase("ff", "Failed")
    phases = {n: s["phase"] for n, s in status["nodes"].items()}
    assert phases["a"] == "Failed" and status["nodes"]["a"]["message"] == "bad input"
    assert phases["b"] == phases["x"] == phases["after-slow"] == "Skipped"
    assert phases["slow"] == "Succeeded", "running Jobs finish; nothing new starts"
    assert "after-slow" not in order_of(sim, kube.namespace)
    assert any(c["type"] == "Failed" and c["status"] == "True" for c in status["conditions"])
    kube.wait_event("ff", "NodeFailed")


def test_continue_runs_independent_branches(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=False) if job.node == "a" else None
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
        {"name": "x", "component": "proc"},
        {"name": "y", "component": "proc", "dependsOn": ["x"]},
    ]
    kube.create("Workflow", "cont", {"input": {"data": "x"}, "nodes": nodes, "failurePolicy": "Continue"})
    status = kube.wait_phase("cont", "Failed")
    phases = {n: s["phase"] for n, s in status["nodes"].items()}
    assert phases == {"a": "Failed", "b": "Skipped", "x": "Succeeded", "y": "Succeeded"}
    assert status["progress"] == "2/4"  # Failed and Skipped nodes are not progress


def breaker_component(kube: Kube, name: str, open_seconds: int = 2, **extra: Any) -> None:
    kube.component(
        name,
        retry={"limit": 0},
        circuitBreaker={"failureThreshold": 2, "openSeconds": open_seconds, "halfOpenMaxRuns": 1},
        **extra,
    )


def one_node(kube: Kube, wf: str, component: str) -> None:
    kube.create("Workflow", wf, {"input": {"data": "x"}, "nodes": [{"name": "n", "component": component}]})


def test_breaker_opens_falls_back_and_closes_after_half_open_trial(kube: Kube, sim: JobSimulator) -> None:
    # long enough Open for the fallback run to start before the timer turns it HalfOpen on a loaded machine
    breaker_component(kube, "fragile", open_seconds=10, fallback={"output": '{"cached": true}'})
    sim.rule = lambda job: Outcome(succeed=False, message="backend down")
    for i in range(2):
        one_node(kube, f"fail-{i}", "fragile")
        kube.wait_phase(f"fail-{i}", "Failed")
    breaker = wait_for(
        lambda: (b := kube.status("Component", "fragile").get("breaker", {})).get("state") == "Open" and b,
        20,
        what="breaker Open",
    )
    assert breaker["consecutiveFailures"] == 2 and breaker["lastFailure"]["workflow"] == "fail-1"
    assert kube.status("Component", "fragile")["failures"] == 2
    kube.wait_event("fragile", "CircuitBreaker")
    # while Open: the fallback output, no Job
    one_node(kube, "fallback", "fragile")
    status = kube.wait_phase("fallback", "Succeeded")
    assert status["nodes"]["n"]["phase"] == "FellBack" and status["nodes"]["n"]["output"] == '{"cached": true}'
    assert kube.configmap(status["outputs"][0])["n"] == '{"cached": true}'
    assert len([s for s in sim.started if s.namespace == kube.namespace]) == 2
    # after openSeconds: one half-open trial, which succeeds and closes the breaker
    sim.rule = None
    wait_for(
        lambda: kube.status("Component", "fragile")["breaker"]["state"] == "HalfOpen", 30, what="openSeconds timer"
    )
    one_node(kube, "trial", "fragile")
    status = kube.wait_phase("trial", "Succeeded")
    assert status["nodes"]["n"]["phase"] == "Succeeded"
    wait_for(lambda: kube.status("Component", "fragile")["breaker"]["state"] == "Closed", 20, what="breaker Closed")


def test_open_breaker_without_fallback_fails_with_circuit_open(kube: Kube, sim: JobSimulator) -> None:
    # Open long enough that the third run meets it Open on a loaded machine (at 2 s the timer could turn it
    # HalfOpen first, and the third run was the trial, which fails with BackoffLimitExceeded)
    breaker_component(kube, "nofb", open_seconds=300)
    sim.rule = lambda job: Outcome(succeed=False)
    for i in range(2):
        one_node(kube, f"f{i}", "nofb")
        kube.wait_phase(f"f{i}", "Failed")
    one_node(kube, "blocked", "nofb")
    status = kube.wait_phase("blocked", "Failed")
    assert status["nodes"]["n"]["reason"] == "CircuitOpen"
    assert "circuit breaker of component 'nofb' is open" in status["nodes"]["n"]["message"]


def test_open_breaker_runs_fallback_component(kube: Kube, sim: JobSimulator) -> None:
    breaker_component(kube, "backup")
    # Open long enough that the third run meets it Open on a loaded machine (at 2 s the timer could turn it
    # HalfOpen first, and the third run was the primary's trial, which fails)
    breaker_component(kube, "primary", open_seconds=300, fallback={"component": "backup"})
    sim.rule = lambda job: Outcome(succeed=False) if job.component == "primary" else Outcome(message="from backup")
    for i in range(2):
        one_node(kube, f"p{i}", "primary")
        kube.wait_phase(f"p{i}", "Failed")
    one_node(kube, "fb", "primary")
    status = kube.wait_phase("fb", "Succeeded")
    node = status["nodes"]["n"]
    assert node["phase"] == "FellBack" and node["fallback"] == "backup" and node["output"] == "from backup"


def test_pod_that_can_never_start_fails_the_attempt(kube: Kube, sim: JobSimulator) -> None:
    """A bad image name would keep the Job pending forever: the attempt fails at once and its Job goes."""
    kube.component("badimage", retry={"limit": 0})
    sim.rule = lambda job: Outcome(delay=60.0)
    kube.create("Workflow", "stuck", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "badimage"}]})
    pod = wait_for(lambda: kube.core.list_namespaced_pod(kube.namespace).items, 20, what="the node's Pod")[0]
    waiting = {"waiting": {"reason": "InvalidImageName", "message": 'couldn\'t parse image name "::bad"'}}
    kube.core.patch_namespaced_pod_status(
        pod.metadata.name,
        kube.namespace,
        {"status": {"phase": "Pending", "containerStatuses": [{"name": "main", "ready": False, "restartCount": 0,
                    "image": "::bad", "imageID": "", "state": waiting}]}},
    )  # fmt: skip
    status = kube.wait_phase("stuck", "Failed")
    node = status["nodes"]["n"]
    assert node["reason"] == "InvalidImageName" and "couldn't parse image name" in node["message"]
    wait_for(lambda: kube.jobs() == [], 20, what="the stuck Job deleted")
