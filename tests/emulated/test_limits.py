"""Issue 7 item 17 against the real operator and the emulated API: limits rejected at admission (422) or,
where admission cannot check (resource names), reported in the Component's status with an Event."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.models.common import MAX_INPUT_BYTES
from switchyard.sandbox.jobsim import JobSimulator
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]

NODES = [{"name": "a", "component": "proc"}]


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        (
            "Workflow",
            {"input": {"data": "é" * (MAX_INPUT_BYTES // 2 + 1)}, "nodes": NODES},
            "input data must be at most 524288 bytes (UTF-8)",
        ),
        (
            "Workflow",
            {"input": {"data": "x"}, "nodes": NODES, "routing": {"analysis": False}},
            "a Workflow takes either explicit nodes or routing",
        ),
        (
            "Component",
            {"image": "example.com/proc:1", "retry": {"backoff": {"initialSeconds": 30, "maxSeconds": 10}}},
            "backoff maxSeconds must not be less than initialSeconds",
        ),
    ],
    ids=["multibyte-input-over-512KiB", "nodes-with-routing", "backoff-max-below-initial"],
)
def test_admission_rejects_limits(kube: Kube, kind: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiException) as caught:
        kube.create(kind, "rejected", spec)
    assert caught.value.status == 422 and message in caught.value.body


def test_multibyte_input_at_the_byte_limit_runs(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.create("Workflow", "full", {"input": {"data": "é" * (MAX_INPUT_BYTES // 2)}, "nodes": NODES})
    status = kube.wait_phase("full", "Succeeded", "Failed", "Invalid", timeout=60)
    assert status["phase"] == "Succeeded", status


def test_extended_resources_reach_the_job(kube: Kube, sim: JobSimulator) -> None:
    resources = {"requests": {"cpu": "50m"}, "limits": {"nvidia.com/gpu": 1, "hugepages-2Mi": "64Mi"}}
    kube.component("proc", resources=resources)
    kube.create("Workflow", "gpu", {"input": {"data": "x"}, "nodes": NODES})
    status = kube.wait_phase("gpu", "Succeeded", "Failed", "Invalid", timeout=60)
    assert status["phase"] == "Succeeded", status
    (job,) = kube.jobs()
    container = job.spec.template.spec.containers[0]
    assert container.resources.limits == {"nvidia.com/gpu": "1", "hugepages-2Mi": "64Mi"}
    assert container.resources.requests == {"cpu": "50m"}


def test_bad_resource_name_is_reported_on_the_component(kube: Kube) -> None:
    kube.component("bad", resources={"limits": {"gpu": 1}})
    ready = wait_for(
        lambda: next((c for c in kube.status("Component", "bad").get("conditions", []) if c["type"] == "Ready"), None),
        30,
        what="Ready condition on component bad",
    )
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "'gpu' is not a container resource name" in ready["message"]
    kube.wait_event("bad", "InvalidSpec", timeout=30)


def test_configmap_input_over_1MiB_in_bytes_cannot_be_stored(kube: Kube) -> None:
    """A real API server refuses a ConfigMap over 1 MiB (keys and values, in bytes), so no Workflow can read
    one: the operator's own check (`check_input_size`, tests/unit/test_limits.py) is a second line."""
    # 1,048,536 characters (under 1 MiB) but 1,048,596 bytes; mostly ASCII so the request stays small.
    payload = "x" * (1024 * 1024 - 100) + "é" * 60
    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "big"}, "data": {"p": payload}})
    assert caught.value.status == 422
    assert "Too long: must have at most 1048576 bytes" in str(caught.value.body)
