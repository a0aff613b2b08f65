"""json-processor: parse the input as JSON and report its shape (type, keys or length, depth, leaves)."""

from __future__ import annotations

from typing import Any

from switchyard.processors.contract import (
    Context,
    JSONValue,
    ProcessorError,
    Result,
    config_str_list,
    json_type,
    strict_json_loads,
)
from switchyard.processors.output import clip_text

KEY_LIMIT = 50
FIELD_LIMIT = 20
PREVIEW_CHARS = 200
PREVIEW_ITEMS = 10
PREVIEW_DEPTH = 3


def process(ctx: Context) -> Result:
    fields = config_str_list(ctx.config, "fields")
    if not ctx.input_text.strip():
        raise ProcessorError("input is empty, expected a JSON document")
    try:
        document = strict_json_loads(ctx.input_text)
    except RecursionError as exc:
        raise ProcessorError("input JSON is nested too deeply to parse") from exc
    except ValueError as exc:
        raise ProcessorError(f"input is not valid JSON: {exc}") from exc

    depth, leaves = measure(document)
    result: Result = {"type": json_type(document), "depth": depth, "leaves": leaves}
    if isinstance(document, dict):
        keys = sorted(document)
        result["keyCount"] = len(keys)
        result["keys"] = [clip_text(key, PREVIEW_CHARS) for key in keys[:KEY_LIMIT]]
        result["keysTruncated"] = len(keys) > KEY_LIMIT
    elif isinstance(document, list | str):
        result["length"] = len(document)
    if fields:
        result.update(_select(document, fields))
    return result


def measure(document: Any) -> tuple[int, int]:
    """Container nesting depth (a scalar is 0, `[]` is 1) and the number of scalar leaves, iteratively."""
    depth = leaves = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in value.values())
        elif isinstance(value, list):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in value)
        else:
            leaves += 1
    return depth, leaves


def _select(document: Any, fields: list[str]) -> Result:
    present = document if isinstance(document, dict) else {}
    wanted = list(dict.fromkeys(fields))
    selected: dict[str, JSONValue] = {}
    clipped = False
    for name in wanted[:FIELD_LIMIT]:
        if name in present:
            selected[name], was_clipped = _preview(present[name], PREVIEW_DEPTH)
            clipped = clipped or was_clipped
    missing: list[JSONValue] = [name for name in wanted if name not in present]
    return {
        "selected": selected,
        "missing": missing,
        "selectedTruncated": clipped or len(wanted) > FIELD_LIMIT,
    }


def _preview(value: Any, depth: int) -> tuple[JSONValue, bool]:
    """A bounded copy of `value`: long strings cut, long arrays/objects shortened, deep parts summarised."""
    if isinstance(value, str):
        return clip_text(value, PREVIEW_CHARS), len(value) > PREVIEW_CHARS
    if isinstance(value, dict | list) and depth <= 0:
        noun = f"object with {len(value)} keys" if isinstance(value, dict) else f"array of {len(value)} items"
        return f"<{noun}>", True
    if isinstance(value, dict):
        items: dict[str, JSONValue] = {}
        clipped = len(value) > PREVIEW_ITEMS
        for key in list(value)[:PREVIEW_ITEMS]:
            items[clip_text(key, PREVIEW_CHARS)], child_clipped = _preview(value[key], depth - 1)
            clipped = clipped or child_clipped
        return items, clipped
    if isinstance(value, list):
        elements: list[JSONValue] = []
        clipped = len(value) > PREVIEW_ITEMS
        for item in value[:PREVIEW_ITEMS]:
            element, child_clipped = _preview(item, depth - 1)
            elements.append(element)
            clipped = clipped or child_clipped
        return elements, clipped
    scalar: JSONValue = value
    return scalar, False
