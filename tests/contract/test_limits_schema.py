"""Issue 7 item 17 at admission: the generated CRDs carry the limits as schema bounds and CEL rules.

Run through the emulator's admission (`switchyard.sandbox.crdschema.admit`: defaults, schema, CEL via the `cel`
library), so the rules are evaluated, not just present; no rule may be skipped as unevaluable.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from switchyard.models.common import MAX_INPUT_BYTES, MAX_RESOURCES
from switchyard.sandbox.crdschema import admit

REPO = pathlib.Path(__file__).resolve().parents[2]


def schema(plural: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "crds" / f"{plural}.switchyard.dev.yaml").read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def errors(kind: str, spec: dict[str, Any]) -> list[str]:
    plural = {"Workflow": "workflows", "Component": "components"}[kind]
    body = {"apiVersion": "switchyard.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    result = admit(body, schema(plural))
    assert result.skipped_rules == [], "every rule must be evaluable"
    return [f"{path}: {message}" for path, message in result.errors]


NODES = [{"name": "a", "component": "c"}]


def test_inline_data_is_limited_in_bytes() -> None:
    assert errors("Workflow", {"input": {"data": "é" * (MAX_INPUT_BYTES // 2)}, "nodes": NODES}) == []
    found = errors("Workflow", {"input": {"data": "é" * (MAX_INPUT_BYTES // 2 + 1)}, "nodes": NODES})
    assert len(found) == 1 and "input data must be at most 524288 bytes (UTF-8)" in found[0]
    assert "spec.input.data" in found[0]


def test_nodes_with_routing_is_rejected_and_defaults_never_add_routing() -> None:
    spec = schema("workflows")["properties"]["spec"]
    assert "default" not in spec["properties"]["routing"], "a defaulted routing would reject every explicit DAG"
    assert errors("Workflow", {"nodes": NODES}) == []
    assert errors("Workflow", {"routing": {"analysis": False}}) == []
    assert errors("Workflow", {"nodes": [], "routing": {}}) == []
    found = errors("Workflow", {"nodes": NODES, "routing": {}})
    assert found == [
        "spec: Invalid value: a Workflow takes either explicit nodes or routing "
        "(how to pick a path without nodes), not both"
    ]


@pytest.mark.parametrize(
    ("backoff", "ok"),
    [
        ({}, True),
        ({"initialSeconds": 2, "maxSeconds": 2}, True),
        ({"initialSeconds": 0.5, "maxSeconds": 1}, True),
        ({"initialSeconds": 10, "maxSeconds": 5}, False),
        ({"maxSeconds": 0.5}, False),  # initialSeconds defaults to 1
    ],
)
def test_backoff_max_not_below_initial(backoff: dict[str, Any], ok: bool) -> None:
    found = errors("Component", {"image": "x", "retry": {"backoff": backoff}})
    if ok:
        assert found == []
    else:
        assert found == ["spec.retry.backoff: Invalid value: backoff maxSeconds must not be less than initialSeconds"]


def test_resources_allow_extended_names_and_are_bounded() -> None:
    resources = {"limits": {"nvidia.com/gpu": 1, "hugepages-2Mi": "64Mi", "cpu": "1"}}
    assert errors("Component", {"image": "x", "resources": resources}) == []
    many = {"limits": {f"example.com/r{i}": 1 for i in range(MAX_RESOURCES + 1)}}
    assert any("resources.limits" in e for e in errors("Component", {"image": "x", "resources": many}))
