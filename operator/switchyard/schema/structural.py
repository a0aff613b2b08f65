"""Turn pydantic JSON Schema into a Kubernetes structural schema.

Kubernetes wants: no `$ref` (inline `$defs`), `nullable: true` instead of `anyOf [X, null]`, no
`additionalProperties: false` next to `properties`, no `title`/`const`/`propertyNames`, and
`x-kubernetes-*` extensions in the right places.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]

_DROP = {"title", "propertyNames", "discriminator", "examples"}


def structural(schema: Schema, *, keep_defaults: bool = True) -> Schema:
    """Return the structural form of a pydantic JSON Schema (with `$defs`)."""
    defs: dict[str, Schema] = schema.get("$defs", {})
    root = {k: v for k, v in schema.items() if k != "$defs"}
    return _convert(root, defs, keep_defaults)


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
    extra = {k: v for k, v in node.items() if k != "$ref"}
    target.update(extra)
    return target


def _convert(node: Schema, defs: dict[str, Schema], keep_defaults: bool) -> Schema:
    node = _resolve(node, defs)
    nullable = False
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) != 1:
            raise ValueError(f"cannot make a structural schema of anyOf {node['anyOf']!r}")
        node = {**_resolve(options[0], defs), **rest}
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "default":
            if keep_defaults and value is not None:
                out["default"] = value
        elif key == "properties":
            out["properties"] = {k: _convert(v, defs, keep_defaults) for k, v in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs, keep_defaults)
        elif key == "additionalProperties":
            if isinstance(value, dict) and value:
                out["additionalProperties"] = _convert(value, defs, keep_defaults)
        elif key == "anyOf":  # int-or-string keeps its anyOf of plain types
            out["anyOf"] = [{"type": o["type"]} for o in value]
        else:
            out[key] = value
    if out.pop("x-switchyard-any-json", False):  # any JSON value (models.workflow.JsonValue): no type at all
        out.pop("type", None)
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
        out["type"] = "object"
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if nullable:
        out["nullable"] = True
    return out


def at_path(schema: Schema, path: str) -> Schema:
    """The sub-schema at a dotted path; `name[]` steps into the items of list `name`."""
    node = schema
    for part in path.split("."):
        is_list = part.endswith("[]")
        node = node["properties"][part.removesuffix("[]")]
        if is_list:
            node = node["items"]
    return node
