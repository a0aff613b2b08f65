"""The served resource types: builtins from kmock's bundled discovery, CRDs as they are written, URL addressing.

``Registry`` is the table of ``ResourceType`` by (group, plural), kept in step with kmock's own resource list
(``KubernetesEmulator.resources``), and turns an ``/api``/``/apis`` path into an ``Address``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kmock
from kmock._internal import loading

from switchyard.sandbox.apiserver.errors import no_resource

# The builtin resources served (group, version, plural); discovery details come from kmock's bundled list.
BUILTINS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "namespaces"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
    ("", "v1", "events"),
    ("", "v1", "pods"),
    ("", "v1", "serviceaccounts"),
    ("batch", "v1", "jobs"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ("coordination.k8s.io", "v1", "leases"),
    ("events.k8s.io", "v1", "events"),
)
CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"
CRD_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]


@dataclass
class VersionInfo:
    status_subresource: bool = False
    printer_columns: list[dict[str, Any]] | None = None
    schema: dict[str, Any] | None = None  # openAPIV3Schema of a CRD version


@functools.lru_cache(maxsize=4096)
def resource_key(group: str, version: str, plural: str) -> kmock.resource:
    """kmock's resource reference (immutable, costly to build: one per request otherwise)."""
    return kmock.resource(group, version, plural)


@dataclass
class ResourceType:
    """One served resource (all its versions share one store, as with a single storage version)."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    storage_version: str
    versions: dict[str, VersionInfo]
    verbs: list[str] = field(default_factory=lambda: list(CRD_VERBS))
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    other_subresources: list[str] = field(default_factory=list)
    crd_name: str | None = None

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def storage_key(self) -> kmock.resource:
        return resource_key(self.group, self.storage_version, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def has_status(self, version: str | None = None) -> bool:
        info = self.versions.get(version or self.storage_version)
        return bool(info and info.status_subresource)


@dataclass
class Address:
    rtype: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


def load_bundled_discovery() -> dict[tuple[str, str, str], kmock.ResourceInfo]:
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    result: dict[tuple[str, str, str], kmock.ResourceInfo] = {}
    for doc in json.loads(gzip.decompress(data)):
        for resource, info in loading.parse_group_version(doc).items():
            result[(resource.group or "", resource.version or "", resource.plural or "")] = info
    return result


def builtin_types() -> list[ResourceType]:
    """The ``BUILTINS`` as kmock's bundled discovery describes them."""
    bundled = load_bundled_discovery()
    types = []
    for group, version, plural in BUILTINS:
        info = bundled[(group, version, plural)]
        types.append(
            ResourceType(
                group=group,
                plural=plural,
                kind=info.kind or plural.capitalize(),
                namespaced=bool(info.namespaced),
                singular=info.singular or plural.rstrip("s"),
                storage_version=version,
                versions={version: VersionInfo(status_subresource="status" in info.subresources)},
                verbs=sorted(info.verbs),
                short_names=sorted(info.shortnames),
                categories=sorted(info.categories),
                other_subresources=sorted(info.subresources - {"status"}),
            )
        )
    return types


def crd_type(crd: Mapping[str, Any]) -> ResourceType:
    """The resource a CustomResourceDefinition serves (KeyError, TypeError, ValueError when malformed)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    versions: dict[str, VersionInfo] = {}
    storage = None
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        versions[version["name"]] = VersionInfo(
            status_subresource="status" in (version.get("subresources") or {}),
            printer_columns=version.get("additionalPrinterColumns"),
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
        )
        if version.get("storage") or storage is None:
            storage = version["name"]
    if storage is None:
        raise ValueError("a CRD needs at least one served version")
    return ResourceType(
        group=spec["group"],
        plural=names["plural"],
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names["kind"].lower(),
        storage_version=storage,
        versions=versions,
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        crd_name=crd.get("metadata", {}).get("name"),
    )


class Registry:
    """The served types by (group, plural), mirrored into kmock's ``resources`` (under the server's lock)."""

    def __init__(self, resources: kmock.ResourcesArray, lock: threading.RLock) -> None:
        self._resources = resources
        self._lock = lock
        self._types: dict[tuple[str, str], ResourceType] = {}

    def types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def get(self, group: str, plural: str) -> ResourceType | None:
        return self._types.get((group, plural))

    def __getitem__(self, key: tuple[str, str]) -> ResourceType:
        return self._types[key]

    @property
    def namespaces(self) -> ResourceType:
        return self._types[("", "namespaces")]

    def find(self, spec: str) -> ResourceType:
        """A resource by plural, plural.group, group/version/plural, v1/plural, kind or short name."""
        with self._lock:
            parts = spec.split("/")
            if len(parts) >= 2:
                group = "/".join(parts[:-2]) if len(parts) >= 3 else ""
                plural = parts[-1]
                if (group, plural) in self._types:
                    return self._types[(group, plural)]
            lowered = spec.lower()
            for (group, plural), rtype in self._types.items():
                names = {plural, f"{plural}.{group}", rtype.kind.lower(), rtype.singular, *rtype.short_names}
                if lowered in names:
                    if group == "events.k8s.io":
                        continue  # "events" means core v1 events, as in kubectl
                    return rtype
            raise KeyError(f"unknown resource {spec!r}")

    def register(self, rtype: ResourceType) -> None:
        with self._lock:
            old = self._types.get((rtype.group, rtype.plural))
            if old is not None:
                for version in old.versions:
                    self._resources.pop(kmock.resource(old.group, version, old.plural), None)
            self._types[(rtype.group, rtype.plural)] = rtype
            for version, info in rtype.versions.items():
                self._resources[kmock.resource(rtype.group, version, rtype.plural)] = kmock.ResourceInfo(
                    namespaced=rtype.namespaced,
                    kind=rtype.kind,
                    singular=rtype.singular,
                    verbs=set(rtype.verbs),
                    shortnames=set(rtype.short_names),
                    categories=set(rtype.categories),
                    subresources=({"status"} if info.status_subresource else set()) | set(rtype.other_subresources),
                )

    def unregister(self, group: str, plural: str) -> None:
        with self._lock:
            rtype = self._types.pop((group, plural), None)
            if rtype is not None:
                for version in rtype.versions:
                    self._resources.pop(kmock.resource(group, version, plural), None)

    def address(self, parts: list[str]) -> Address:
        """The resource, namespace, name and subresource a path names (404 ``ApiError`` for none)."""
        if parts and parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise no_resource()
        namespace: str | None = None
        with self._lock:
            if len(rest) >= 3 and rest[0] == "namespaces":
                inner = self._types.get((group, rest[2]))
                if inner is not None and inner.namespaced and version in inner.versions:
                    namespace, rest = rest[1], rest[2:]
            rtype = self._types.get((group, rest[0]))
        if rtype is None or version not in rtype.versions or len(rest) > 3:
            raise no_resource()
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) >= 3 else None
        if subresource is not None and subresource != "status":
            raise no_resource(subresource)
        if subresource == "status" and not rtype.has_status(version):
            raise no_resource("status")
        return Address(rtype, version, namespace if rtype.namespaced else None, name, subresource)
