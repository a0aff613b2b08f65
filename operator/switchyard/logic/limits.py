"""Size limits the operator checks at run time, on data the API server never validated (a ConfigMap's value).

Pure: the k8s layer calls `check_input_size` right after reading the input, before routing or any Job.
"""

from __future__ import annotations

import json
from typing import Any

from switchyard.logic.errors import InvalidSpec
from switchyard.models.common import MAX_CONFIGMAP_INPUT_BYTES, MAX_INPUT_BYTES
from switchyard.models.workflow import utf8_size


def input_limit(inline: bool) -> int:
    """The byte limit of a workflow's input: inline `data`, or the value of a `configMapKeyRef`."""
    return MAX_INPUT_BYTES if inline else MAX_CONFIGMAP_INPUT_BYTES


def check_input_size(data: str, inline: bool) -> None:
    """Raise InvalidSpec("TooLarge") when the input is over its limit, counted in UTF-8 bytes (not characters)."""
    limit = input_limit(inline)
    size = utf8_size(data)
    if size > limit:
        source = "inline input data" if inline else "the input read from configMapKeyRef"
        raise InvalidSpec("TooLarge", f"{source} is {size} bytes (UTF-8); the limit is {limit} bytes")


def json_size(value: Any) -> int:
    """Bytes `value` takes as the API server stores it: compact JSON, UTF-8 (`é` is 2 bytes, not `\\u00e9`'s 6)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", errors="surrogatepass"))


# -- object size as etcd sees it, and what writing it costs ----------------------------------------------------

ETCD_MAX_OBJECT_BYTES = 1_572_864  # etcd's request limit (1.5 MiB): metadata, managedFields and status included
MANAGED_ENTRY_BYTES = 200  # one managedFields entry besides its fieldsV1: manager, operation, apiVersion, time...
OBJECT_RESERVE_BYTES = 32 * 1024  # other writers' metadata: kopf's finalizer and annotations, users' labels...
MAX_OBJECT_BYTES = ETCD_MAX_OBJECT_BYTES - OBJECT_RESERVE_BYTES  # what a Workflow's budget may reach
EVENT_MESSAGE_BYTES = 1024  # an Event's message, in bytes (Go's len), as the API server validates it
WRITE_BUDGET_BYTES_PER_SECOND = 100_000  # what one Workflow's progress writes may cost etcd, per second
MIN_PROGRESS_INTERVAL = 1.0  # seconds: a small Workflow's progress is written at most once a second
MAX_PROGRESS_INTERVAL = 30.0  # seconds: a Workflow near the object limit still shows progress twice a minute


def fields_v1_size(value: Any) -> int:
    """An upper bound of the bytes `value`'s fields take in a managedFields entry (`fieldsV1`): every object
    key as `"f:key":{...}` with a `.` marker, a list of named objects as `k:{"name":...}` items, anything else
    `{}`. The API server records one such set per field manager, so a large spec or status is stored about
    twice: once as values, once as the names of the fields its writer owns."""
    if isinstance(value, dict) and value:
        return 9 + sum(json_size(f"f:{key}") + 2 + fields_v1_size(child) for key, child in value.items())
    if isinstance(value, list) and value and all(isinstance(item, dict) and "name" in item for item in value):
        keys = (json_size("k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))) for item in value)
        return 9 + sum(key + 2 + fields_v1_size(item) for key, item in zip(keys, value, strict=True))
    return 2


def node_fields_bytes(name: str, fields: tuple[str, ...]) -> int:
    """The most one node's status takes in its writer's managedFields: `"f:NAME":{".":{},"f:phase":{},...}`."""
    return json_size(f"f:{name}") + 2 + fields_v1_size(dict.fromkeys(fields, 0))


def progress_interval(object_bytes: int) -> float:
    """Seconds between two progress writes of a Workflow whose object is `object_bytes` large.

    Every status merge patch makes etcd store the whole object again (and every watcher receive it), so the
    interval grows with the object: its progress writes stay within `WRITE_BUDGET_BYTES_PER_SECOND`, between
    `MIN_PROGRESS_INTERVAL` and `MAX_PROGRESS_INTERVAL`."""
    interval = object_bytes / WRITE_BUDGET_BYTES_PER_SECOND
    return min(MAX_PROGRESS_INTERVAL, max(MIN_PROGRESS_INTERVAL, interval))


def cut_utf8(text: str, limit: int, marker: str = "...") -> str:
    """`text` in at most `limit` UTF-8 bytes, cut on a character boundary, `marker` at the end when cut."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(marker.encode()))
    return data[:room].decode("utf-8", errors="ignore") + marker
