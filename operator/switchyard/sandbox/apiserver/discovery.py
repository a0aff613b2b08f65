"""Discovery documents (legacy, non-aggregated: ``/api``, ``/apis``, a group, a group version) and the OpenAPI v3
documents (``openapi.py``) of the types a ``Registry`` serves."""

from __future__ import annotations

from typing import Any

from switchyard.sandbox import openapi
from switchyard.sandbox.apiserver.errors import no_resource
from switchyard.sandbox.apiserver.registry import ResourceType

SUBRESOURCE_VERBS = ["get", "patch", "update"]


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
    }


def _versions(rtype: ResourceType) -> list[str]:
    return [rtype.storage_version, *rtype.versions]


def document(types: list[ResourceType], parts: list[str]) -> dict[str, Any] | None:
    """The discovery document of a GET path (split at ``/``); None for a path that is not discovery."""
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if parts == ["apis"]:
        groups: dict[str, list[str]] = {}
        for rtype in types:
            if rtype.group:
                versions = groups.setdefault(rtype.group, [])
                for version in _versions(rtype):
                    if version not in versions:
                        versions.append(version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group_doc(group, versions) for group, versions in groups.items()],
        }
    if len(parts) == 2 and parts[0] == "apis":
        versions = []
        for rtype in types:
            if rtype.group == parts[1]:
                versions += [v for v in _versions(rtype) if v not in versions]
        if not versions:
            raise no_resource()
        return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(parts[1], versions)}
    if (len(parts) == 2 and parts[0] == "api") or (len(parts) == 3 and parts[0] == "apis"):
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        served = [rtype for rtype in types if rtype.group == group and version in rtype.versions]
        if not served:
            raise no_resource()
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for rtype in served for entry in _resource_entries(rtype, version)],
        }
    return None


def _resource_entries(rtype: ResourceType, version: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": rtype.verbs,
            **({"shortNames": rtype.short_names} if rtype.short_names else {}),
            **({"categories": rtype.categories} if rtype.categories else {}),
        }
    ]
    subresources = (["status"] if rtype.has_status(version) else []) + rtype.other_subresources
    for sub in subresources:
        entries.append(
            {
                "name": f"{rtype.plural}/{sub}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": SUBRESOURCE_VERBS,
            }
        )
    return entries


def openapi_document(types: list[ResourceType], path: str) -> dict[str, Any]:
    """``/openapi/v3`` (the index) or ``/openapi/v3/<api/v1 | apis/G/V>``; 404 ``ApiError`` for another."""
    if path == "/openapi/v3":
        return openapi.index(types)
    parts = [part for part in path[len("/openapi/v3/") :].split("/") if part]
    group, version = ("", parts[1]) if parts[:1] == ["api"] and len(parts) == 2 else ("", "")
    if parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    served = [t for t in types if t.group == group and version in t.versions]
    if not version or not served:
        raise no_resource()
    return openapi.document(served, group, version)
