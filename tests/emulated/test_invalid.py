"""Bad input reaches the user as status + a Warning Event, and the operator keeps running everything else."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def node(name: str, *deps: str, component: str = "proc") -> dict[str, Any]:
    return {"name": name, "component": component, "dependsOn": list(deps)}


@pytest.mark.parametrize(
    ("nodes", "reason", "message"),
    [
        (
            [node("a", "c"), node("b", "a"), node("c", "b")],
            "Cycle",
            "dependency cycle: a -> c -> b -> a",
        ),
        ([node("a"), node("b", "ghost")], "UnknownDependency", "node 'b' depends on unknown node 'ghost'"),
        ([node("a"), node("b", component="nope")], "UnknownComponent", "node 'b' uses unknown component 'nope'"),
        ([node("a", "a")], "SelfDependency", "node 'a' depends on itself"),
    ],
    ids=["cycle", "unknown-dep", "unknown-component", "self-dep"],
)
def test_invalid_dag_is_reported(
    kube: Kube, sim: JobSimulator, nodes: list[dict[str, Any]], reason: str, message: str
) -> None:
    kube.component("proc")
    kube.create("Workflow", "bad", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("bad", "Invalid")
    assert status["message"] == message
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"], valid["message"]) == ("False", reason, message)
    assert any(c["type"] == "Failed" and c["status"] == "True" for c in status["conditions"])
    event = kube.wait_event("bad", reason)
    assert event.type == "Warning" and event.message == message
    assert kube.jobs() == [] and sim.started == []
    # the operator is still up and runs the next workflow
    kube.create("Workflow", "good", {"input": {"data": "x"}, "nodes": [node("a")]})
    kube.wait_phase("good", "Succeeded")


def test_bad_cel_marks_the_rule_invalid_and_routing_reports_it(kube: Kube, sim: JobSimulator) -> None:
    kube.component("data-validator")
    kube.create("RoutingRule", "broken", {"priority": 5, "when": "input.size >>> 3", "path": ["data-validator"]})
    status = wait_for(
        lambda: (s := kube.status("RoutingRule", "broken")).get("valid") is False and s, 20, what="invalid"
    )
    assert status["message"].startswith("CEL compile error")
    event = kube.wait_event("broken", "InvalidExpression")
    assert event.type == "Warning" and event.message == status["message"]
    kube.create("Workflow", "unrouted", {"input": {"data": "plain"}, "routing": {"analysis": False}})
    wf = kube.wait_phase("unrouted", "Invalid")
    assert wf["message"].startswith("no RoutingRule matched the input and analysis is disabled")
    assert "rule 'broken'" in wf["message"]
    kube.wait_event("unrouted", "NoRoute")


def test_valid_rule_reports_valid(kube: Kube) -> None:
    kube.create("RoutingRule", "fine", {"when": "input.isJson", "path": ["json-processor"]})
    wait_for(lambda: kube.status("RoutingRule", "fine").get("valid") is True, 20, what="valid rule")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"nodes": [node("a")], "parallelism": 0}, "spec.parallelism"),
        ({"nodes": [node("a"), node("a")]}, "Duplicate value"),
    ],
    ids=["schema-minimum", "list-map-unique-names"],
)
def test_api_admission_rejects_what_the_crd_forbids(kube: Kube, spec: dict[str, Any], message: str) -> None:
    """The CRD's schema and CEL rules reject these before the operator sees them (422 Invalid)."""
    with pytest.raises(ApiException) as caught:
        kube.create("Workflow", "rejected", {"input": {"data": "x"}, **spec})
    assert caught.value.status == 422 and message in caught.value.body


def test_spec_is_immutable_once_created(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.create("Workflow", "fixed", {"input": {"data": "x"}, "nodes": [node("a")]})
    with pytest.raises(ApiException) as caught:
        kube.custom.patch_namespaced_custom_object(
            "switchyard.dev", "v1alpha1", kube.namespace, "workflows", "fixed", {"spec": {"parallelism": 3}}
        )
    assert caught.value.status == 422 and "spec is immutable" in caught.value.body
    kube.wait_phase("fixed", "Succeeded")


def test_missing_input_configmap_is_invalid(kube: Kube) -> None:
    kube.component("proc")
    spec = {"input": {"configMapKeyRef": {"name": "nothere", "key": "data"}}, "nodes": [node("a")]}
    kube.create("Workflow", "noinput", spec)
    status = kube.wait_phase("noinput", "Invalid")
    assert status["message"] == "input ConfigMap 'nothere' not found"


def test_input_from_configmap(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "in"}, "data": {"payload": "42"}})
    spec = {"input": {"configMapKeyRef": {"name": "in", "key": "payload"}}, "nodes": [node("a")]}
    kube.create("Workflow", "cmin", spec)
    kube.wait_phase("cmin", "Succeeded")
    job = kube.jobs()[0]
    sources = job.spec.template.spec.volumes[0].projected.sources
    assert sources[0].config_map.name == "in" and sources[0].config_map.items[0].key == "payload"


def test_operator_survives_everything_above(running_operator: OperatorProcess) -> None:
    assert running_operator.alive
    assert "Traceback" not in running_operator.log(), running_operator.log()[-3000:]


def test_workflow_too_large_for_its_status_is_invalid(kube: Kube, sim: JobSimulator) -> None:
    """A spec so large that spec + status could not fit the object limit: Invalid with the limit, no Jobs.
    (4,000 such nodes are not even stored: with their managedFields the create is over etcd's 1.5 MiB.)"""
    kube.component("proc")
    nodes = [{"name": f"n{i}", "component": "proc", "config": {"pad": "x" * 250}} for i in range(3000)]
    kube.create("Workflow", "huge", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("huge", "Invalid", timeout=60)
    assert status["message"].startswith("metadata, spec and status would take ")
    assert "of them managedFields); the limit is 1000000" in status["message"]
    kube.wait_event("huge", "TooLarge")
    assert kube.jobs() == []
