"""kopf's per-event bookkeeping without deep copies of what it throws away (set in `startup.configure`).

For every watch event kopf builds the object's "essence" (spec, labels, annotations) to diff it against the
last handled one: its stock storages deep-copy the whole body first, status and managed fields included,
and then deep-copy the essence twice more to clear progress marks. On a 1,000-node Workflow (a large
status, patched often) and on thousands of Job and Pod events this was ~22 % of the operator's CPU.
These subclasses return exactly the same essence (tests/unit/test_persistence.py) from copies of only the
parts kopf keeps, and none at all for Jobs and Pods, whose essence no handler reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from kopf import AnnotationsDiffBaseStorage, DiffBaseStorage, SmartProgressStorage
from kopf._cogs.structs import bodies, dicts  # the types of kopf's storage API (not re-exported by kopf)

KEPT = ("metadata", "status")  # the stanzas a progress storage may clear
# Kinds watched only by indexes and event handlers: kopf still builds their essence on every event, but
# only change and daemon handlers read it (tests/unit/test_persistence.py checks none is registered).
NO_ESSENCE = frozenset({("batch/v1", "Job"), ("v1", "Pod")})


class LeanDiffBaseStorage(AnnotationsDiffBaseStorage):
    """The stock annotations diff-base, but the essence is built from the body minus status and metadata
    other than labels and annotations (which the essence drops anyway)."""

    def build(self, *, body: bodies.Body, extra_fields: Iterable[dicts.FieldSpec] | None = None) -> bodies.BodyEssence:
        if (body.get("apiVersion"), body.get("kind")) in NO_ESSENCE:
            return cast(bodies.BodyEssence, {})
        if extra_fields:  # a handler watches a status or metadata field: keep kopf's own path
            return super().build(body=body, extra_fields=extra_fields)
        metadata = body.get("metadata", {})
        light: dict[str, Any] = {key: value for key, value in body.items() if key not in KEPT}
        light["metadata"] = {key: metadata[key] for key in ("labels", "annotations") if key in metadata}
        essence = DiffBaseStorage.build(self, body=cast(bodies.Body, light))  # the stock essence builder
        self.remove_annotations(essence, set(self.make_keys(self.key, body=body)))
        self.remove_empty_stanzas(essence)
        return essence


class LeanProgressStorage(SmartProgressStorage):
    """The stock progress storage; `clear` copies only metadata and status (the stanzas it edits) and
    shares the rest with the essence it was given, which kopf built fresh and only reads."""

    def clear(self, *, essence: bodies.BodyEssence) -> bodies.BodyEssence:
        rest = {key: value for key, value in essence.items() if key not in KEPT}
        edited = {key: value for key, value in essence.items() if key in KEPT}
        cleared: dict[str, Any] = dict(super().clear(essence=cast(bodies.BodyEssence, edited)))
        result = {
            key: rest[key] if key in rest else cleared.pop(key) for key in essence if key in rest or key in cleared
        }
        return cast(bodies.BodyEssence, {**result, **cleared})


__all__ = ["LeanDiffBaseStorage", "LeanProgressStorage"]
