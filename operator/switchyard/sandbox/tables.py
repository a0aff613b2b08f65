"""``meta.k8s.io/v1 Table`` responses for ``kubectl get``, from a CRD's additionalPrinterColumns.

The simple JSONPaths that printer columns use in practice are evaluated here: ``.a.b``, ``.a[0].b``,
``.a['x.y']`` and ``.a[*].b`` (first match); a path with a filter (the usual condition column,
``.status.conditions[?(@.type=="Ready")].status``) goes to jsonpath-ng's extended parser. ``date`` cells
are rendered as an age ("5m", "2d3h"), as the real API server does (kubectl prints the cell as it comes).
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse as parse_jsonpath

_TOKEN = re.compile(r"\.([A-Za-z0-9_\-$]+)|\[(\d+|\*)\]|\[['\"]([^'\"]+)['\"]\]")

# Builtin kinds: NAME and AGE are enough, plus a few columns that make test output readable.
BUILTIN_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "pods": [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}],
    "jobs": [
        {"name": "Succeeded", "type": "integer", "jsonPath": ".status.succeeded"},
        {"name": "Failed", "type": "integer", "jsonPath": ".status.failed"},
    ],
    "events": [
        {"name": "Type", "type": "string", "jsonPath": ".type"},
        {"name": "Reason", "type": "string", "jsonPath": ".reason"},
        {"name": "Object", "type": "string", "jsonPath": ".involvedObject.name"},
        {"name": "Message", "type": "string", "jsonPath": ".message"},
    ],
}

AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def evaluate(body: Any, path: str) -> Any:
    """Evaluate a simple JSONPath (``.a.b[0].c``, optionally wrapped in ``{}``); None when absent."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    if path.startswith("$"):
        path = path[1:]
    if "[?" in path:
        return _evaluate_filter(body, path)
    values: list[Any] = [body]
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            return None  # an expression we do not support: an empty cell, like an absent field
        position = match.end()
        key, index, quoted = match.group(1), match.group(2), match.group(3)
        next_values: list[Any] = []
        for value in values:
            if key is not None or quoted is not None:
                name = key if key is not None else quoted
                if isinstance(value, Mapping) and name in value:
                    next_values.append(value[name])
            elif index == "*":
                if isinstance(value, Sequence) and not isinstance(value, str):
                    next_values.extend(value)
                elif isinstance(value, Mapping):
                    next_values.extend(value.values())
            elif isinstance(value, Sequence) and not isinstance(value, str) and int(index) < len(value):
                next_values.append(value[int(index)])
        values = next_values
        if not values:
            return None
    return values[0] if values else None


@functools.lru_cache(maxsize=256)
def _compiled(path: str) -> JSONPath | None:
    try:
        return parse_jsonpath("$" + path)
    except Exception:  # JsonPathParserError, and plain Exceptions for some bad input too
        return None


def _evaluate_filter(body: Any, path: str) -> Any:
    """A path with a filter expression: the first match's value, None when nothing matches (or it does not
    parse: an empty cell, like an absent field)."""
    compiled = _compiled(path)
    if compiled is None:
        return None
    found = compiled.find(body)
    return found[0].value if found else None


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration`` (apimachinery), as shown in AGE columns."""
    if seconds < -1:
        return "<invalid>"
    total = max(int(seconds), 0)
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 120:
        return f"{total}s"
    if minutes < 10:
        return f"{minutes}m{total % 60}s" if total % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def age(timestamp: Any, now: datetime.datetime | None = None) -> str:
    """The age of an RFC3339 timestamp, or ``<unknown>``."""
    try:
        moment = datetime.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    return human_duration((now - moment).total_seconds())


def _cell(value: Any, column_type: str) -> Any:
    if value is None:
        return None
    if column_type == "date":
        return age(value)
    if column_type in ("integer", "number", "boolean"):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value) if not isinstance(value, str) else value


def printer_columns(crd_columns: list[dict[str, Any]] | None, plural: str) -> list[dict[str, Any]]:
    """The columns after NAME: the CRD's own, or the builtin ones + Age (as the API server defaults)."""
    if crd_columns:
        return list(crd_columns)
    return [*BUILTIN_COLUMNS.get(plural, []), AGE_COLUMN]


def build_table(
    objects: list[dict[str, Any]],
    columns: list[dict[str, Any]],
    resource_version: str,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """Render a ``Table``: a NAME column, then ``columns``; rows carry the object per ``includeObject``."""
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ]
    for column in columns:
        definitions.append(
            {
                "name": column["name"],
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": column.get("priority", 0),
            }
        )
    rows = []
    for body in objects:
        metadata = body.get("metadata", {})
        cells = [metadata.get("name")]
        cells += [_cell(evaluate(body, column["jsonPath"]), column.get("type", "string")) for column in columns]
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = body
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
