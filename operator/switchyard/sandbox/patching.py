"""The patch flavours the emulated API server accepts: JSON patch, JSON merge patch, a strategic-merge subset.

Strategic merge patch is merge patch plus two rules: ``$``-directives are dropped, and lists of dicts that
all carry a ``name`` key (containers, volumes, env, ports...) are merged by name (``$patch: delete``
removes an item). Patch strategies declared in the Kubernetes Go types are not known here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer


class PatchError(ValueError):
    """The patch cannot be applied: the API server answers 422 Invalid."""


def json_patch(body: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch; a failed ``test`` or a bad path raise PatchError."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(copy.deepcopy(body), ops, in_place=False)
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchError(f"the server rejected our request due to an error in our request: {e}") from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError) as e:
        raise PatchError(f"the server rejected our request due to an error in our request: {e}") from e
    if not isinstance(result, dict):
        raise PatchError("the JSON patch did not produce an object")
    return result


def merge_patch(body: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(body) if isinstance(body, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) and "name" in item for item in value)
    )


def strategic_merge_patch(body: Any, patch: Any) -> Any:
    """Apply a strategic merge patch approximately (see the module docstring)."""
    if isinstance(patch, list):
        if _is_named_list(body) and all(isinstance(item, Mapping) and "name" in item for item in patch):
            merged = {item["name"]: item for item in body}
            order = [item["name"] for item in body]
            for item in patch:
                name = item["name"]
                if item.get("$patch") == "delete":
                    merged.pop(name, None)
                    continue
                merged[name] = strategic_merge_patch(merged.get(name), item)
                if name not in order:
                    order.append(name)
            return [merged[name] for name in order if name in merged]
        return [_strip_directives(item) for item in patch]
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    result = dict(body) if isinstance(body, Mapping) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value
