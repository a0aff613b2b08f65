"""The generated CRDs: in sync with the models, structural, bounded, and accepting exactly the valid manifests.

The emulated API server does not validate against CRD schemas; these tests cover that gap with jsonschema
against the generated `openAPIV3Schema` (plus the pydantic models, which the operator itself uses).
"""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from switchyard.models.crd import KINDS, Kind
from switchyard.schema import crdgen

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))


def crd_schema(kind: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "crds" / f"{kind_of(kind).crd_name}.yaml").read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def kind_of(kind: str) -> Kind:
    return next(k for k in KINDS if k.kind == kind)


def to_jsonschema(node: Any) -> Any:
    """K8s structural schema -> JSON Schema: `nullable` becomes a null type, int-or-string an anyOf."""
    if isinstance(node, list):
        return [to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes") and k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
    elif out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # the API server prunes unknown fields; we reject them here
    return out


def validate(doc: dict[str, Any]) -> None:
    schema = to_jsonschema(crd_schema(doc["kind"]))
    schema["properties"]["metadata"] = {"type": "object"}
    jsonschema.validate(doc, schema)


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key in ("properties",):
            for name, child in (node.get(key) or {}).items():
                yield from walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_crds_on_disk_are_generated_from_the_models() -> None:
    for directory in crdgen.OUTPUT_DIRS:
        for name, content in crdgen.rendered().items():
            path = directory / name
            assert path.exists(), f"{path} missing: run python -m switchyard.schema.crdgen"
            assert path.read_text() == content, f"{path} is stale: run python -m switchyard.schema.crdgen"
    assert crdgen.main(["--check"]) == 0


@pytest.mark.parametrize("kind", [k.kind for k in KINDS])
def test_schema_is_structural_and_bounded(kind: str) -> None:
    schema = crd_schema(kind)
    for path, node in walk(schema):
        assert "$ref" not in node and "$defs" not in node, path
        assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), f"{path}: anyOf is not structural"
        assert node.get("additionalProperties") is not False, path
        if node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields"):
            continue
        assert "type" in node, f"{path} has no type"
        if not path.startswith(".spec"):
            continue
        if node["type"] == "string":
            assert "maxLength" in node or "enum" in node or node.get("format") == "date-time", f"{path} unbounded"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} has no maxItems"


def test_crd_metadata_printer_columns_and_names() -> None:
    docs = {k.kind: yaml.safe_load((REPO / "crds" / f"{k.crd_name}.yaml").read_text()) for k in KINDS}
    columns = {
        kind: [c["name"] for c in d["spec"]["versions"][0]["additionalPrinterColumns"]] for kind, d in docs.items()
    }
    assert columns["Workflow"][:3] == ["Phase", "Progress", "Route"] and columns["Workflow"][-1] == "Age"
    assert columns["Component"][:2] == ["Image", "Breaker"] and columns["Component"][-1] == "Age"
    assert columns["RoutingRule"][:3] == ["Priority", "When", "Valid"]
    for _kind, doc in docs.items():
        names = doc["spec"]["names"]
        assert names["categories"] == ["switchyard"]
        assert "wf" not in names["shortNames"], "wf is Argo's"
        assert doc["spec"]["versions"][0]["subresources"] == {"status": {}}
        assert doc["spec"]["scope"] == "Namespaced"


def test_workflow_nodes_are_a_list_map_and_cel_rules_are_in_place() -> None:
    spec = crd_schema("Workflow")["properties"]["spec"]
    assert spec["properties"]["nodes"]["x-kubernetes-list-type"] == "map"
    assert spec["properties"]["nodes"]["x-kubernetes-list-map-keys"] == ["name"]
    rules = [r["rule"] for r in spec.get("x-kubernetes-validations", [])]
    assert "self == oldSelf" in rules, "spec is immutable"
    rule_nodes = crd_schema("RoutingRule")["properties"]["spec"]["properties"]["nodes"]
    assert "self.exists(m, m.name == d)" in rule_nodes["x-kubernetes-validations"][0]["rule"]
    assert rule_nodes["items"]["properties"]["dependsOn"]["maxItems"] == 16, "keeps that rule's CEL cost bounded"
    fallback = crd_schema("Component")["properties"]["spec"]["properties"]["fallback"]
    assert fallback["x-kubernetes-validations"][0]["rule"] == "has(self.component) != has(self.output)"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_generated_schemas(path: pathlib.Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        validate(doc)
        kind_of(doc["kind"]).spec.model_validate(doc["spec"])


GOOD_WORKFLOW = {
    "apiVersion": "switchyard.dev/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "x"},
    "spec": {"input": {"data": "hi"}, "nodes": [{"name": "a", "component": "c"}]},
}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s["nodes"][0].update(name="Not_A_Label"), "name"),
        (lambda s: s.update(parallelism=0), "parallelism"),
        (lambda s: s.update(failurePolicy="Sometimes"), "failurePolicy"),
        (lambda s: s.update(image="evil:latest"), "image"),
        (lambda s: s["input"].update(data="x" * (512 * 1024 + 1)), "data"),
        (lambda s: s.update(nodes=[{"name": f"n{i}", "component": "c"} for i in range(5001)]), "nodes"),
    ],
)
def test_bad_workflows_are_rejected_by_schema_and_model(change: Any, where: str) -> None:
    doc = copy.deepcopy(GOOD_WORKFLOW)
    validate(doc)
    change(doc["spec"])
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
    with pytest.raises(ValueError, match=where):
        kind_of("Workflow").spec.model_validate(doc["spec"])


def test_component_defaults_match_the_contract() -> None:
    spec = kind_of("Component").spec.model_validate({"image": "x"})
    wire = spec.model_dump(by_alias=True)
    assert wire["retry"] == {"limit": 2, "backoff": {"initialSeconds": 1, "factor": 2, "maxSeconds": 300}}
    assert wire["circuitBreaker"] == {"failureThreshold": 5, "openSeconds": 60, "halfOpenMaxRuns": 1}
    with pytest.raises(ValueError, match="exactly one"):
        kind_of("Component").spec.model_validate({"image": "x", "fallback": {"component": "a", "output": "b"}})
