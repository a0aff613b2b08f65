"""The last checks of a write before the emulator stores it, as a real API server and etcd make them.

`check` runs on every create and update (``ApiServer._check_write``): metadata validation for every kind
(``metavalidation.py``: names, labels, annotations; a Job's template labels; a ConfigMap's 1 MiB), MicroTime
fields (400 when not six fractional digits) and Event rules, then ``managedFields`` for the writer
(``managedfields.py``), then etcd's request limit: an object whose stored JSON is over 1,572,864 bytes is a
500 ``etcdserver: request is too large``. `WriteLog` counts the bytes each object's writes stored (etcd's
write volume), for benchmarks and tests of write amplification.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from switchyard.sandbox import managedfields, metavalidation
from switchyard.sandbox.managedfields import Path, Writer

ETCD_MAX_REQUEST_BYTES = 1_572_864  # etcd's --max-request-bytes default (1.5 MiB), what kube-apiserver hits
ETCD_TOO_LARGE = "etcdserver: request is too large"

_DEDUCED = {"x-kubernetes-preserve-unknown-fields": True}
# the writer of the request being served (set by the server per write request; None: an in-process write)
WRITER: contextvars.ContextVar[tuple[Writer, Any] | None] = contextvars.ContextVar("writer", default=None)


class Invalid(Exception):
    """422: field errors (``causes``) joined as Kubernetes joins them."""

    def __init__(self, errors: list[metavalidation.FieldError]) -> None:
        self.causes = [{"reason": "FieldValueInvalid", "message": msg, "field": path} for path, msg in errors]
        text = ", ".join(f"{path}: {msg}" for path, msg in errors)
        super().__init__(f"[{text}]" if len(errors) > 1 else text)


class Refused(Exception):
    """Any other refusal: an HTTP code, the Status reason and message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def set_writer(params: Mapping[str, str], headers: Mapping[str, str], body: bytes, subresource: str | None) -> None:
    """Record who writes, for ``managedFields`` (the Apply body too: its fields become the manager's)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "").split(";")[0].strip()
    writer = Writer.from_request(params, headers, content_type, subresource)
    applied = None
    if writer.operation == "Apply":
        try:
            applied = yaml.safe_load(body)
        except yaml.YAMLError:
            applied = None
    WRITER.set((writer, applied if isinstance(applied, dict) else None))


@dataclass
class WriteLog:
    """Bytes stored per object (key ``group/plural/namespace/name``) and writes counted, since the start."""

    bytes: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, key: str, size: int) -> None:
        with self._lock:
            self.bytes[key] = self.bytes.get(key, 0) + size
            self.writes[key] = self.writes.get(key, 0) + 1

    def bytes_of(self, group: str, plural: str, namespace: str | None, name: str) -> int:
        with self._lock:
            return self.bytes.get(object_key(group, plural, namespace, name), 0)

    def total(self, group: str | None = None, plural: str | None = None) -> int:
        prefix = f"{group}/{plural}/" if group is not None and plural is not None else ""
        with self._lock:
            return sum(size for key, size in self.bytes.items() if key.startswith(prefix))


def object_key(group: str, plural: str, namespace: str | None, name: str) -> str:
    return f"{group}/{plural}/{namespace or ''}/{name}"


def stored_size(body: Any) -> int:
    """Bytes of the object as stored (compact JSON, UTF-8), what etcd's request limit is compared with."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", errors="surrogatepass"))


def schema_shape(schema: Mapping[str, Any] | None) -> tuple[managedfields.IsMap, managedfields.ListKeys]:
    """For a custom resource: a path is a map when its schema has ``additionalProperties`` (or keeps unknown
    fields) and no ``properties``; ``labels``/``annotations`` are maps as everywhere."""

    def at(path: Path) -> Mapping[str, Any] | None:
        node: Any = schema
        for element in path:
            if not isinstance(node, Mapping):
                return None
            if element.startswith("k:"):
                node = node.get("items")
                continue
            key = element[2:]
            props = node.get("properties") or {}
            extra = node.get("additionalProperties")
            if key in props:
                node = props[key]
            elif isinstance(extra, Mapping):
                node = extra
            else:  # schemaless below here: every object is a map (the types structured-merge-diff deduces)
                node = _DEDUCED if node.get("x-kubernetes-preserve-unknown-fields") else None
        return node if isinstance(node, Mapping) else None

    def list_keys(path: Path) -> tuple[str, ...] | None:
        node = at(path)
        if node is None:
            return None
        if node.get("x-kubernetes-list-type") == "map":
            return tuple(node.get("x-kubernetes-list-map-keys") or ()) or None
        return None  # a CRD's list is atomic unless it says otherwise

    def is_map(path: Path) -> bool:
        if managedfields.default_is_map(path):
            return True
        if path[:1] == ("f:metadata",):
            return False
        node = at(path)
        if node is None or node.get("properties"):
            return False
        return bool(node.get("additionalProperties") or node.get("x-kubernetes-preserve-unknown-fields"))

    return is_map, list_keys


def validate(group: str, plural: str, kind: str, version: str, body: Mapping[str, Any]) -> None:
    """Raise Refused (400) for an undecodable MicroTime, Invalid (422) for metadata or kind-specific errors."""
    for value in metavalidation.micro_times(group, plural, body):
        try:
            metavalidation.check_micro_time(kind, version, value)
        except metavalidation.BadTime as e:
            raise Refused(400, "BadRequest", str(e)) from e
    errors = metavalidation.object_meta(body, dns_label_name=(group, plural) == ("", "namespaces"))
    if (group, plural) == ("batch", "jobs"):
        errors += metavalidation.job_template_labels(body)
    elif (group, plural) == ("", "configmaps"):
        errors += metavalidation.configmap_size(body)
    elif (group, plural) == ("", "events"):
        errors += metavalidation.core_event(body)
    elif (group, plural) == ("events.k8s.io", "events"):
        errors += metavalidation.events_v1_event(body)
    if errors:
        raise Invalid(errors)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(
    group: str,
    plural: str,
    kind: str,
    version: str,
    body: dict[str, Any],
    old: Mapping[str, Any] | None,
    schema: Mapping[str, Any] | None = None,
    track_fields: bool = True,
    dry_run: bool = False,
) -> int:
    """Validate `body` (to be stored over `old`), record its managedFields, refuse it when etcd would;
    the stored size is returned."""
    validate(group, plural, kind, version, body)
    current = WRITER.get()
    if track_fields and current is not None and current[0].manager:
        writer, applied = current
        api_version = f"{group}/{version}" if group else version
        is_map, list_keys = (
            schema_shape(schema) if schema else (managedfields.default_is_map, managedfields.default_list_keys)
        )
        managedfields.update(
            old, body, writer, api_version, now_rfc3339(), applied=applied, is_map=is_map, list_keys=list_keys
        )
    size = stored_size(body)
    if size > ETCD_MAX_REQUEST_BYTES and not dry_run:
        raise Refused(500, "InternalError", ETCD_TOO_LARGE)
    return size
