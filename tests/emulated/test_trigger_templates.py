"""A Trigger that runs a WorkflowTemplate: arguments are CEL over the event, `notify` goes to its Workflows."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from switchyard.sandbox.jobsim import JobSimulator
from tests.emulated.conftest import GROUP, VERSION, Kube, wait_for
from tests.emulated.test_notify import Sink
from tests.emulated.test_triggers import (  # noqa: F401 - the ingest operator and its namespace, as fixtures
    Ingest,
    _ready,
    event,
    ingest,
    ingest_operator,
    ingest_port,
    namespace,
)

pytestmark = pytest.mark.emulated


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


def test_a_trigger_runs_a_template_with_arguments_from_the_event_and_notifies(
    kube: Kube,
    sim: JobSimulator,
    ingest: Ingest,  # noqa: F811 - the fixture imported above
    sink: Sink,
) -> None:
    kube.component("proc")
    template = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "order-flow"},
        "spec": {
            "parameters": [{"name": "customer"}, {"name": "priority", "default": "low", "enum": ["low", "high"]}],
            "workflow": {
                "nodes": [
                    {
                        "name": "run",
                        "component": "proc",
                        "config": {"who": "{{params.customer}}", "priority": "{{params.priority}}"},
                    }
                ]
            },
        },
    }
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflowtemplates", template)
    kube.create(
        "Trigger",
        "orders",
        {
            "workflowTemplateRef": {"name": "order-flow"},
            "arguments": {"customer": "event.data.customer", "priority": 'event.data.total > 100 ? "high" : "low"'},
            "notify": {"sink": {"uri": sink.uri}},
        },
    )
    wait_for(lambda: _ready(kube, "orders"), 60, what="trigger Ready")
    status, body = ingest.send("orders", event("o-1", {"customer": "acme", "total": 150}))
    assert status == 202, body
    [name] = body["workflows"]
    spec = kube.get("Workflow", name)["spec"]
    assert spec["workflowTemplateRef"] == {"name": "order-flow"}
    assert spec["arguments"] == {"customer": "acme", "priority": "high"}
    assert json.loads(spec["input"]["data"]) == {"customer": "acme", "total": 150}
    assert spec["notify"]["sink"]["uri"] == sink.uri
    final = kube.wait_phase(name, "Succeeded", timeout=60)
    assert final["template"]["parameters"] == {"customer": "acme", "priority": "high"}
    (job,) = [j for j in kube.jobs() if j.metadata.labels["switchyard.dev/workflow"] == name]
    config = json.loads(job.spec.template.metadata.annotations["switchyard.dev/config"])
    assert config == {"who": "acme", "priority": "high"}
    wait_for(lambda: sink.of(name), 30, what="the finished event")
    assert sink.of(name)[0].body["data"]["template"]["parameters"]["customer"] == "acme"
    # an argument that cannot be evaluated for an event refuses it (no Workflow)
    status, body = ingest.send("orders", event("o-2", {"total": 5}))
    assert status == 422 and body["reason"] == "ArgumentError" and "arguments.customer" in body["error"], body


def test_a_trigger_takes_one_of_an_inline_template_or_a_reference(kube: Kube) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        kube.create("Trigger", "both", {"workflowTemplate": {"nodes": []}, "workflowTemplateRef": {"name": "x"}})
    assert refused.value.status == 422 and "exactly one of workflowTemplate or workflowTemplateRef" in str(
        refused.value.body
    )
    kube.create("Trigger", "bad-args", {"workflowTemplateRef": {"name": "x"}, "arguments": {"a": "event.("}})
    condition = wait_for(
        lambda: next(
            (c for c in kube.status("Trigger", "bad-args").get("conditions", []) if c["type"] == "Ready"), None
        ),
        30,
        what="Ready condition",
    )
    assert condition["status"] == "False" and "CEL compile error in arguments.a" in condition["message"]
