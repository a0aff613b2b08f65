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
