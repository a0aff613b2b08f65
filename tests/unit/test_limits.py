"""Issue 7 item 17 in the models: byte limits, nodes vs routing, backoff bounds, resource names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from switchyard.logic.errors import InvalidSpec
from switchyard.logic.limits import check_input_size, json_size
from switchyard.models.common import MAX_CONFIGMAP_INPUT_BYTES, MAX_INPUT_BYTES
from switchyard.models.component import Backoff, ComponentSpec, Resources
from switchyard.models.workflow import InputSpec, WorkflowSpec

NODES = [{"name": "a", "component": "c"}]


def test_inline_input_limit_counts_bytes_not_characters() -> None:
    ascii_ok = "x" * MAX_INPUT_BYTES
    assert InputSpec(data=ascii_ok).data == ascii_ok
    two_byte = "é" * (MAX_INPUT_BYTES // 2)  # exactly the limit in bytes
    assert InputSpec(data=two_byte).data == two_byte
    with pytest.raises(ValidationError, match=r"input data is 524290 bytes \(UTF-8\); the limit is 524288 bytes"):
        InputSpec(data=two_byte + "é")  # 262,145 characters, far below maxLength, but over in bytes
    with pytest.raises(ValidationError, match="the limit is 524288 bytes"):
        InputSpec(data="€" * (MAX_INPUT_BYTES // 3 + 1))


def test_check_input_size_for_inline_and_configmap_input() -> None:
    check_input_size("x" * MAX_INPUT_BYTES, inline=True)
    check_input_size("é" * (MAX_CONFIGMAP_INPUT_BYTES // 2), inline=False)
    with pytest.raises(InvalidSpec) as caught:
        check_input_size("é" * (MAX_CONFIGMAP_INPUT_BYTES // 2 + 1), inline=False)
    assert caught.value.reason == "TooLarge"
    assert caught.value.message == (
        "the input read from configMapKeyRef is 1048578 bytes (UTF-8); the limit is 1048576 bytes"
    )
    with pytest.raises(InvalidSpec, match="inline input data is 524289 bytes"):
        check_input_size("x" * (MAX_INPUT_BYTES + 1), inline=True)


def test_nodes_with_routing_is_rejected_not_ignored() -> None:
    with pytest.raises(ValidationError, match="either explicit 'nodes' or 'routing'"):
        WorkflowSpec.model_validate({"nodes": NODES, "routing": {"analysis": False}})
    with pytest.raises(ValidationError, match="either explicit 'nodes' or 'routing'"):
        WorkflowSpec.model_validate({"nodes": NODES, "routing": {}})


@pytest.mark.parametrize(
    "spec",
    [{"nodes": NODES}, {"routing": {"analysis": False}}, {"nodes": [], "routing": {}}, {}],
    ids=["nodes", "routing", "empty-nodes-and-routing", "neither"],
)
def test_nodes_or_routing_alone_is_fine_and_routing_keeps_its_default(spec: dict[str, Any]) -> None:
    parsed = WorkflowSpec.model_validate(spec)
    assert parsed.routing.analysis is spec.get("routing", {}).get("analysis", True)
    assert parsed.routing.rule_selector is None


def test_backoff_max_below_initial_is_rejected_on_the_component() -> None:
    with pytest.raises(ValidationError, match=r"maxSeconds \(0.5\) must not be less than initialSeconds \(1\)"):
        ComponentSpec.model_validate({"image": "x", "retry": {"backoff": {"maxSeconds": 0.5}}})
    assert Backoff(initial_seconds=3, max_seconds=3).max_seconds == 3


@pytest.mark.parametrize(
    "resources",
    [
        {"requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "1Gi"}},
        {"limits": {"hugepages-2Mi": "128Mi", "hugepages-1Gi": "1Gi", "memory": "2Gi"}},
        {"limits": {"nvidia.com/gpu": 1}},
        {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": 2}},
        {"requests": {"example.com/foo_bar.baz": 1}, "limits": {"example.com/foo_bar.baz": 1}},
    ],
)
def test_kubernetes_resource_names_are_accepted(resources: dict[str, Any]) -> None:
    wire = Resources.model_validate(resources).to_wire()
    # Quantities come out as strings, the only form the Pod API (and the kubernetes client) takes.
    assert wire == {kind: {k: str(v) for k, v in values.items()} for kind, values in resources.items()}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"requests": {"gpu": 1}}, "'gpu' is not a container resource name"),
        ({"limits": {"nvidia.com/": 1}}, "is not a container resource name"),
        ({"limits": {"Nvidia.COM/gpu": 1}}, "is not a container resource name"),
        ({"limits": {"a/b/c": 1}}, "is not a container resource name"),
        ({"limits": {"example.com/" + "g" * 64: 1}}, "is not a container resource name"),
        ({"limits": {f"example.com/r{i}": 1 for i in range(17)}}, "at most 16 items"),
        ({"requests": {"nvidia.com/gpu": 1}}, "needs a limit equal to its request"),
        ({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}, "must equal the limit"),
        ({"limits": {"node.kubernetes.io/thing": 1}}, "kubernetes.io domain is reserved"),
    ],
)
def test_bad_resource_names_are_rejected(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Resources.model_validate(resources)


def test_json_size_counts_utf8_bytes_as_stored() -> None:
    assert json_size({"data": "é" * 10}) == len('{"data":""}') + 20
    assert json_size({"a": [1, 2]}) == len('{"a":[1,2]}')
