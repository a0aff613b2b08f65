"""The OpenAPI v3 documents the emulator serves (``/openapi/v3`` and ``/openapi/v3/<api|apis/group>/<version>``).

What kubectl reads: the index of group-versions, and per group-version the paths with their operations (each
tagged ``x-kubernetes-group-version-kind``, writes listing the ``fieldValidation`` and ``dryRun`` query
parameters: kubectl then leaves field validation to the server instead of downloading schemas to validate
client-side) and the schemas: a CRD version's ``openAPIV3Schema`` (so ``kubectl explain`` works), a builtin
kind's schema is an open object (the emulator does not validate builtin kinds; see tests/README.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class Served(Protocol):
    group: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def versions(self) -> Mapping[str, Any]: ...

    def has_status(self, version: str | None = None) -> bool: ...


def gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _reverse_domain(group: str) -> str:
    return ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"


def schema_name(group: str, version: str, kind: str) -> str:
    return f"{_reverse_domain(group)}.{version}.{kind}"


def index(types: Iterable[Served]) -> dict[str, Any]:
    """``GET /openapi/v3``: every served group-version with its document's URL (hashed as the API server does)."""
    by_gv: dict[str, list[Served]] = {}
    for rtype in types:
        for version in rtype.versions:
            by_gv.setdefault(gv_path(rtype.group, version), []).append(rtype)
    paths = {}
    for path in sorted(by_gv):
        group, version = _split(path)
        digest = hashlib.sha256(json.dumps(document(by_gv[path], group, version), sort_keys=True).encode()).hexdigest()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:32].upper()}"}
    return {"paths": paths}


def _split(path: str) -> tuple[str, str]:
    parts = path.split("/")
    return ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])


def _parameter(name: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": "string", "uniqueItems": True}}


def _operation(
    verb: str, action: str, params: list[dict[str, Any]], gvk: dict[str, str], ref: dict[str, str], with_body: bool
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{verb}{gvk['kind']}",
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if with_body:
        operation["requestBody"] = {
            "content": {"application/json": {"schema": ref}, "application/yaml": {"schema": ref}}
        }
    return operation


def document(types: Iterable[Served], group: str, version: str) -> dict[str, Any]:
    """``GET /openapi/v3/<gv path>``: paths and schemas of one group-version."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    prefix = "/" + gv_path(group, version)
    for rtype in types:
        if version not in rtype.versions:
            continue
        gvk = {"group": group, "version": version, "kind": rtype.kind}
        name = schema_name(group, version, rtype.kind)
        ref = {"$ref": f"#/components/schemas/{name}"}
        info = rtype.versions[version]
        crd_schema = getattr(info, "schema", None)
        schema = (
            copy.deepcopy(crd_schema)
            if crd_schema
            else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        )
        schema["x-kubernetes-group-version-kind"] = [gvk]
        schemas[name] = schema
        scope = f"{prefix}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else f"{prefix}/{rtype.plural}"
        scope_params = [_parameter("namespace", "path")] if rtype.namespaced else []
        write = [_parameter("dryRun"), _parameter("fieldManager"), _parameter("fieldValidation")]

        def op(verb: str, action: str, params: list[dict[str, Any]], with_body: bool = False) -> dict[str, Any]:
            return _operation(verb, action, params, gvk, ref, with_body)  # noqa: B023 - called in this iteration

        paths[scope] = {
            "parameters": scope_params,
            "get": op("list", "list", [_parameter("labelSelector"), _parameter("fieldSelector")]),
            "post": op("create", "post", write, with_body=True),
        }
        item = {
            "parameters": [*scope_params, _parameter("name", "path")],
            "get": op("read", "get", []),
            "put": op("replace", "put", write, with_body=True),
            "patch": op("patch", "patch", [*write, _parameter("force")], with_body=True),
            "delete": op("delete", "delete", [_parameter("dryRun")]),
        }
        paths[f"{scope}/{{name}}"] = item
        if rtype.has_status(version):
            paths[f"{scope}/{{name}}/status"] = {
                "parameters": item["parameters"],
                "get": op("read", "get", []),
                "patch": op("patch", "patch", write, with_body=True),
                "put": op("replace", "put", write, with_body=True),
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (switchyard emulator)", "version": "v1.26.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
