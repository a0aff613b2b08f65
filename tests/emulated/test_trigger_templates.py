"""A Trigger that runs a WorkflowTemplate: arguments are CEL over the event (a batched Trigger's over the batch's
`events`, `event` and `batch`), `notify` goes to its Workflows."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest

from switchyard.models.labels import ANNOTATION_OPENED
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import free_port
from tests.emulated.conftest import GROUP, VERSION, Kube, new_namespace, wait_for
from tests.emulated.test_notify import Sink
from tests.emulated.test_triggers import (  # noqa: F401 - the ingest operator and its namespace, as fixtures
    Ingest,
    _ready,
    batch_items,
    event,
    ingest,
    ingest_operator,
    ingest_port,
    namespace,
    pending_batches,
    start_operator,
    workflows,
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
    warning = kube.wait_event("orders", "ArgumentError", timeout=30)  # the Trigger's fault: said on it too
    assert warning.type == "Warning" and "event o-2" in warning.message and "arguments.customer" in warning.message


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


def batch_template(kube: Kube, name: str, parameters: list[str]) -> None:
    template = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {
            "parameters": [{"name": p} for p in parameters],
            "workflow": {
                "nodes": [
                    {"name": "run", "component": "proc", "config": {p: "{{params." + p + "}}" for p in parameters}}
                ]
            },
        },
    }
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflowtemplates", template)


def test_a_batched_trigger_runs_a_template_with_arguments_over_the_batchs_events(
    kube: Kube,
    sim: JobSimulator,
    ingest: Ingest,  # noqa: F811 - the fixture imported above
) -> None:
    kube.component("proc")
    batch_template(kube, "batch-flow", ["count", "first", "customers", "size"])
    kube.create(
        "Trigger",
        "batched",
        {
            "workflowTemplateRef": {"name": "batch-flow"},
            "batch": {"maxItems": 3, "maxWaitSeconds": 3600},
            "arguments": {
                "count": "string(size(events))",
                "first": "event.data.customer",
                "customers": "events.map(e, e.data.customer)",
                "size": "batch.size",
            },
        },
    )
    wait_for(lambda: _ready(kube, "batched"), 60, what="trigger Ready")
    answers = [
        ingest.send("batched", event(f"b-{i}", {"customer": c})) for i, c in enumerate(["acme", "globex", "ini"])
    ]
    assert [status for status, _ in answers] == [202] * 3, answers
    [name] = answers[-1][1]["workflows"]
    wf = kube.get("Workflow", name)
    expected = {"count": "3", "first": "acme", "customers": '["acme","globex","ini"]', "size": "3"}
    assert wf["spec"]["workflowTemplateRef"] == {"name": "batch-flow"}
    assert wf["spec"]["arguments"] == expected
    assert batch_items(wf) == [{"customer": "acme"}, {"customer": "globex"}, {"customer": "ini"}]
    final = kube.wait_phase(name, "Succeeded", timeout=60)
    assert final["template"]["parameters"] == expected  # the snapshot the run resolved
    (job,) = [j for j in kube.jobs() if j.metadata.labels["switchyard.dev/workflow"] == name]
    assert json.loads(job.spec.template.metadata.annotations["switchyard.dev/config"]) == expected
    assert not pending_batches(kube, "batched")


def test_a_batch_whose_argument_fails_is_kept_until_the_trigger_is_fixed(
    kube: Kube,
    sim: JobSimulator,
    ingest: Ingest,  # noqa: F811 - the fixture imported above
) -> None:
    kube.component("proc")
    batch_template(kube, "who-flow", ["who"])
    spec = {
        "workflowTemplateRef": {"name": "who-flow"},
        "batch": {"maxItems": 2, "maxWaitSeconds": 3600},
        "arguments": {"who": "events[1].data.customer"},  # the second event has none
    }
    kube.create("Trigger", "fragile", spec)
    wait_for(lambda: _ready(kube, "fragile"), 60, what="trigger Ready")
    assert ingest.send("fragile", event("f-0", {"customer": "acme"}))[0] == 202
    status, body = ingest.send("fragile", event("f-1", {"total": 3}))
    assert status == 202 and body["workflows"] == [], body  # persisted; its Workflow could not start
    error = wait_for(
        lambda: "ArgumentError" in (e := kube.status("Trigger", "fragile").get("lastError") or "") and e,
        30,
        what="lastError",
    )
    assert "arguments.who could not be evaluated for batch" in error and "2 events are kept" in error, error
    warning = kube.wait_event("fragile", "ArgumentError", timeout=30)
    assert warning.type == "Warning" and "arguments.who" in warning.message
    assert workflows(kube, "fragile") == []
    [pending] = pending_batches(kube, "fragile")
    assert sorted(k for k in pending.data if not k.endswith(".event")) == sorted(
        k[: -len(".event")] for k in pending.data if k.endswith(".event")
    )
    status, body = ingest.send("fragile", event("f-2", {"customer": "late"}))  # the full batch cannot seal
    assert status == 503 and "arguments.who" in body["error"], body
    # fixed: the kept batch is sealed with the arguments of its persisted events
    patch = {"spec": {"arguments": {"who": 'has(events[1].data.customer) ? events[1].data.customer : "none"'}}}
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, kube.namespace, "triggers", "fragile", patch)
    [wf] = wait_for(lambda: workflows(kube, "fragile"), 30, what="the kept batch sealed")
    assert wf["spec"]["arguments"] == {"who": "none"}
    assert batch_items(wf) == [{"customer": "acme"}, {"total": 3}]
    kube.wait_phase(wf["metadata"]["name"], "Succeeded", timeout=60)
    assert ingest.send("fragile", event("f-2", {"customer": "late"}))[0] == 202  # the sender's retry is taken


def test_a_batchs_arguments_after_a_sigkill_come_from_the_persisted_batch(
    kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Two events accepted, the operator SIGKILLed, the third sent to the new process: the sealed Workflow's
    arguments read all three events' attributes, two of them only from the pending ConfigMap."""
    own = new_namespace(kubeconfig, "k")
    kube = Kube(kubeconfig, own)
    port = free_port()
    proc = start_operator(kubeconfig, tmp_path / "operator.log", (own,), port)
    client = Ingest(port, own)
    try:
        batch_template(kube, "kept-flow", ["count", "ids", "opened", "first"])
        arguments = {
            "count": "string(size(events))",
            "ids": "events.map(e, e.id)",
            "opened": "batch.openedAt",
            "first": "string(event.data.n)",
        }
        spec = {"workflowTemplateRef": {"name": "kept-flow"}, "batch": {"maxItems": 3}, "arguments": arguments}
        kube.create("Trigger", "kept", spec)
        wait_for(lambda: _ready(kube, "kept"), 60, what="trigger Ready")
        for i in range(2):
            assert client.send("kept", event(f"a-{i}", {"n": i}))[0] == 202
        proc.kill()
        [pending] = pending_batches(kube, "kept")
        attributes = [key for key in pending.data if key.endswith(".event")]  # beside the two items
        assert len(pending.data) == 4 and json.loads(pending.data[sorted(attributes)[0]])["id"] == "a-0"
        opened = pending.metadata.annotations[ANNOTATION_OPENED].replace("+00:00", "Z")
        proc.start()
        proc.wait_ready(timeout=60)
        wait_for(client.ready, 30, what="ingest back")
        status, body = client.send("kept", event("a-2", {"n": 2}))
        assert status == 202 and body["workflows"], body
        [wf] = workflows(kube, "kept")
        assert wf["spec"]["arguments"] == {"count": "3", "ids": '["a-0","a-1","a-2"]', "opened": opened, "first": "0"}
        assert not pending_batches(kube, "kept")
    finally:
        proc.stop()
        kube.core.delete_namespace(own)
