"""Rendering a result as one compact JSON document that fits the Kubernetes termination-message cap.

Results are shrunk structurally (largest list, object or string first), so the text is always whole JSON.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from switchyard.processors.contract import JSONValue, Result

# One byte under the kubelet's 4096: a termination message that fills the kubelet's limit may have been cut,
# and the operator treats it so (OutputTruncated); a whole result never does.
MAX_RESULT_BYTES = 4095
ELLIPSIS = "…"
# Returned only if shrinking cannot get under the cap, which the bounded top-level keys make unreachable.
_FALLBACK: Result = {"error": "result too large to report"}


def dumps(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def byte_size(text: str) -> int:
    return len(text.encode("utf-8"))


def clip_text(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def render_result(result: Result, limit: int = MAX_RESULT_BYTES) -> str:
    """Serialize `result`, shrinking its contents until it is at most `limit` UTF-8 bytes.

    Top-level keys are kept (their values may be shrunk) and `"truncated": true` is added when anything
    was cut.
    """
    text = dumps(result)
    if byte_size(text) <= limit:
        return text
    work: Result = copy.deepcopy(result)
    work["truncated"] = True
    while True:
        text = dumps(work)
        if byte_size(text) <= limit:
            return text
        if not _shrink_largest(work):
            return dumps(_FALLBACK)


def _shrink_largest(root: Result) -> bool:
    """Halve the largest non-empty string, list or nested object anywhere below `root`."""
    best: tuple[int, dict[str, JSONValue] | list[JSONValue], str | int] | None = None
    stack: list[dict[str, JSONValue] | list[JSONValue]] = [root]
    while stack:
        parent = stack.pop()
        items: list[tuple[str | int, JSONValue]] = (
            list(parent.items()) if isinstance(parent, dict) else list(enumerate(parent))
        )
        for key, value in items:
            if isinstance(value, dict | list):
                stack.append(value)
            if isinstance(value, dict | list | str) and len(value) > 0:
                size = byte_size(dumps(value))
                if best is None or size > best[0]:
                    best = (size, parent, key)
    if best is None:
        return False
    _, parent, key = best
    value = parent[int(key)] if isinstance(parent, list) else parent[str(key)]
    shrunk = _halve(value)
    if isinstance(parent, list):
        parent[int(key)] = shrunk
    else:
        parent[str(key)] = shrunk
    return True


def _halve(value: JSONValue) -> JSONValue:
    if isinstance(value, str):
        half = value[: len(value) // 2]
        # Short strings are cut without a marker so every step strictly shortens them.
        return half + ELLIPSIS if len(value) >= 8 else half
    if isinstance(value, list):
        return value[: len(value) // 2]
    if isinstance(value, dict):
        return dict(list(value.items())[: len(value) // 2])
    return value


def write_termination_log(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
