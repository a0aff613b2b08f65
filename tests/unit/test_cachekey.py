"""The result cache key covers everything a run depends on, and nothing else."""

from __future__ import annotations

from switchyard.logic.cachekey import cache_key
from switchyard.models.component import ComponentSpec

BASE = {"image": "img:1", "command": ["run"], "args": ["-x"], "env": [{"name": "A", "value": "1"}],
        "cache": {"enabled": True, "version": "1"}}  # fmt: skip
UP = {"chunk": [["sha256:r"], ["chunk-00000", 3, "sha256:a"]]}


def key(spec: dict[str, object] = BASE, config: dict[str, object] | None = None, input_: str = "in",
        upstream: dict[str, list[list[object]]] = UP) -> str:  # fmt: skip
    return cache_key(ComponentSpec.model_validate(spec), config or {"n": 1}, input_, upstream)


def test_the_key_changes_with_every_part_and_only_with_them() -> None:
    same = key()
    assert key() == same
    assert key({**BASE, "timeoutSeconds": 9}) == same  # not part of the work
    changed = [
        key({**BASE, "image": "img:2"}),
        key({**BASE, "command": ["other"]}),
        key({**BASE, "args": []}),
        key({**BASE, "env": [{"name": "A", "value": "2"}]}),
        key({**BASE, "cache": {"enabled": True, "version": "2"}}),
        key(config={"n": 2}),
        key(input_="other"),
        key(upstream={"chunk": [["sha256:r"], ["chunk-00000", 3, "sha256:b"]]}),
        key(upstream={"chunk": [["sha256:other"], ["chunk-00000", 3, "sha256:a"]]}),
    ]
    assert same not in changed and len(set(changed)) == len(changed)
