"""Facts about a workflow's input (size, JSON, digits) and the path data analysis picks from them.

The facts are also what RoutingRule CEL expressions see as `input` (see `switchyard.logic.routing`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LARGE_INPUT_BYTES = 1000
JSON_PROCESSOR = "json-processor"
CHUNKING_PROCESSOR = "chunking-processor"
NUMERIC_PROCESSOR = "numeric-processor"
DATA_VALIDATOR = "data-validator"

_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class InputFacts:
    """What routing knows about an input. `json` is the parsed value when `is_json`, else None."""

    data: str
    size: int  # UTF-8 bytes
    is_json: bool
    json: Any
    has_digits: bool
    content_type: str = "text/plain"
    labels: dict[str, str] = field(default_factory=dict)


def _declares_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _parse_json(data: str, content_type: str) -> tuple[bool, Any]:
    """(is_json, value): a JSON object or array, or any JSON value when the content type declares JSON."""
    stripped = data.strip()
    declared = _declares_json(content_type)
    if not stripped or (not declared and stripped[0] not in "{["):
        return False, None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
        return False, None
    if declared or isinstance(value, dict | list):
        return True, value
    return False, None


def analyse_input(
    data: str, content_type: str = "text/plain", labels: Mapping[str, str] | None = None, size: int | None = None
) -> InputFacts:
    """Compute the facts of an input once; routing and analysis both read them. `size` is the whole input's
    when `data` is only its beginning (an input artifact: its first 64 KiB)."""
    is_json, value = _parse_json(data, content_type)
    return InputFacts(
        data=data,
        size=len(data.encode("utf-8")) if size is None else size,
        is_json=is_json,
        json=value,
        has_digits=_DIGIT.search(data) is not None,
        content_type=content_type,
        labels=dict(labels or {}),
    )


def analysis_path(facts: InputFacts) -> tuple[list[str], str]:
    """The built-in processors for this input, and a reason naming the facts that chose them.

    JSON first, then chunking for large inputs, numeric when there are digits, the validator always last.
    """
    path: list[str] = []
    found: list[str] = []
    if facts.is_json:
        path.append(JSON_PROCESSOR)
        found.append("json (isJson=true)")
    if facts.size > LARGE_INPUT_BYTES:
        path.append(CHUNKING_PROCESSOR)
        found.append(f"large (size={facts.size} > {LARGE_INPUT_BYTES})")
    if facts.has_digits:
        path.append(NUMERIC_PROCESSOR)
        found.append("digits")
    path.append(DATA_VALIDATOR)
    return path, f"analysis: {', '.join(found) or 'plain text'} -> {', '.join(path)}"
