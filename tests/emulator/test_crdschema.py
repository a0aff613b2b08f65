"""CRD schemas in the emulator: pruning, defaulting, validation and CEL rules, as the API server applies them."""

from __future__ import annotations

import pytest

from switchyard.sandbox.crdschema import admit

pytestmark = pytest.mark.emulated

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "nodes": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "after": {"type": "array", "items": {"type": "string"}},
                        },
                        "x-kubernetes-validations": [
                            {"rule": "!has(self.after) || !(self.name in self.after)", "message": "no self-loops"}
                        ],
                    },
                },
            },
            "x-kubernetes-validations": [{"rule": "self.size == oldSelf.size", "message": "size is immutable"}],
        },
        "status": {
            "type": "object",
            "properties": {"at": {"type": "string", "format": "date-time"}, "count": {"type": "integer"}},
        },
    },
}


def spec(**fields: object) -> dict:
    return {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"size": 1, **fields}}


def test_unknown_fields_are_pruned_and_defaults_applied():
    result = admit({**spec(extra=1, free={"any": {"thing": 1}}), "junk": True, "status": {"other": 1}}, SCHEMA)
    assert result.errors == []
    assert result.body["spec"] == {"size": 1, "mode": "fast", "free": {"any": {"thing": 1}}}
    assert "junk" not in result.body and result.body["status"] == {}
    assert result.body["metadata"] == {"name": "x"}


def test_nulls_on_non_nullable_fields_are_pruned():
    result = admit(spec(note=None, name=None), SCHEMA)
    assert result.errors == [] and result.body["spec"]["note"] is None and "name" not in result.body["spec"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"size": "3"}, "spec.size"),
        ({"size": 11}, "spec.size"),
        ({"size": 0}, "spec.size"),
        ({"mode": "medium"}, "spec.mode"),
        ({"name": "toolong"}, "spec.name"),
        ({"name": "UPPER"}, "spec.name"),
        ({"port": 1.5}, "spec.port"),
        ({"tags": ["a", "b", "c"]}, "spec.tags"),
        ({"tags": ["a", "a"]}, "spec.tags"),
        ({"labels": {"a": 1}}, "spec.labels.a"),
        ({"nodes": [{"name": "a"}, {"name": "a"}]}, "spec.nodes"),
        ({"nodes": [{"name": "a", "after": ["a"]}]}, "spec.nodes[0]"),
    ],
)
def test_invalid_values_are_reported_with_their_path(fields, path):
    result = admit(spec(**fields), SCHEMA)
    assert path in [where for where, _ in result.errors], result.errors


def test_required_fields_and_formats():
    result = admit({"spec": {}, "status": {"at": "yesterday"}}, SCHEMA)
    assert {where for where, _ in result.errors} == {"spec.size", "status.at"}
    assert admit({**spec(), "status": {"at": "2024-01-01T00:00:00.5+01:00"}}, SCHEMA).errors == []


def test_transition_rules_run_only_on_update():
    assert admit(spec(size=2), SCHEMA).errors == []
    old = spec(size=2)
    assert admit(spec(size=2, name="ok"), SCHEMA, old).errors == []
    errors = admit(spec(size=3), SCHEMA, old).errors
    assert errors == [("spec", "Invalid value: size is immutable")]


def test_rules_the_library_cannot_evaluate_are_skipped_not_failed():
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.unknownFunction()"}]}},
    }
    result = admit({"spec": {}}, schema)
    assert result.errors == [] and len(result.skipped_rules) == 1


def test_the_api_server_rejects_invalid_and_prunes_unknown(raw):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "shapes.schema.example.com"},
        "spec": {
            "group": "schema.example.com",
            "scope": "Namespaced",
            "names": {"plural": "shapes", "singular": "shape", "kind": "Shape"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": SCHEMA},
                }
            ],
        },
    }
    assert raw("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    shapes = "/apis/schema.example.com/v1/namespaces/default/shapes"
    status, _, error = raw("POST", shapes, spec(size="big"))
    assert status == 422 and error["reason"] == "Invalid"
    assert error["details"]["causes"][0]["field"] == "spec.size"
    status, _, body = raw("POST", shapes, spec(unknown=True))
    assert status == 201 and body["spec"] == {"size": 1, "mode": "fast"}
    status, _, error = raw("PATCH", f"{shapes}/x", {"spec": {"size": 2}}, "application/merge-patch+json")
    assert status == 422 and "size is immutable" in error["message"]
    status, _, body = raw(
        "PATCH", f"{shapes}/x/status", {"status": {"count": 1, "bogus": 2}}, "application/merge-patch+json"
    )
    assert status == 200 and body["status"] == {"count": 1}
