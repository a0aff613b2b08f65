"""`kubectl explain` has something to say about every field: each property of every generated CRD schema (crds/)
carries a description, which comes from the pydantic models' `Field(description=...)` (one source)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CRDS = sorted((REPO / "crds").glob("*.yaml"))
# Set by the API server and described by Kubernetes itself (`kubectl explain workflow.metadata`).
SERVER_OWNED = frozenset({".apiVersion", ".kind", ".metadata"})


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property below `node`, through nested objects, array items and map values."""
    if not isinstance(node, dict):
        return
    for name, child in (node.get("properties") or {}).items():
        yield f"{path}.{name}", child
        yield from properties(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from properties(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from properties(node["additionalProperties"], f"{path}{{}}")


def test_there_are_crds() -> None:
    assert len(CRDS) >= 4


@pytest.mark.parametrize("crd", CRDS, ids=lambda path: path.name)
def test_every_property_has_a_description(crd: pathlib.Path) -> None:
    doc = yaml.safe_load(crd.read_text())
    missing = []
    for version in doc["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        for path, node in properties(schema):
            if path not in SERVER_OWNED and not str(node.get("description", "")).strip():
                missing.append(f"{version['name']}{path}")
    assert missing == [], f"{crd.name}: {len(missing)} properties without a description:\n" + "\n".join(missing)
