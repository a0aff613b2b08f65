"""The key of the content-addressed result cache (`Component.spec.cache`): what a run's outcome depends on.

The sha256 of a canonical JSON of the component's image, command, args and env, the node's merged config, the
Workflow's input (its identity: the digest of inline data, or an input object's key, size and ETag), every
dependency's artifacts (name, size and digest from its manifest) and result (its digest), and the cache
`version`. Pure: the caller gathers those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from switchyard.models.component import ComponentSpec


def digest_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def cache_key(
    component: ComponentSpec,
    merged_config: Mapping[str, Any],
    input_identity: str,
    upstream: Mapping[str, Sequence[Sequence[object]]],
) -> str:
    """`upstream`: dependency -> its identity rows ([result digest], [name, size, digest] per artifact)."""
    body = {
        "image": component.image,
        "command": list(component.command),
        "args": list(component.args),
        "env": [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in component.env],
        "config": merged_config,
        "input": input_identity,
        "upstream": {dep: [list(row) for row in rows] for dep, rows in sorted(upstream.items())},
        "version": component.cache.version,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
