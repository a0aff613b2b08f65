"""kopf's per-event bookkeeping without deep copies of what it throws away (set in `startup.configure`).

For every watch event kopf builds the object's "essence" (spec, labels, annotations) to diff it against the
last handled one: its stock storages deep-copy the whole body first, status and managed fields included,
and then deep-copy the essence twice more to clear progress marks. On a 1,000-node Workflow (a large
status, patched often) and on thousands of Job and Pod events this was ~22 % of the operator's CPU.

Only change handlers (`on.create/update/resume/delete/field`) and timers with `idle=` ever read
an essence. When the registry holds none (`essence_needed`; this operator today), the storage builds none.
Otherwise these subclasses return exactly the same essence as kopf's (tests/unit/test_persistence.py) from
copies of only the parts kopf keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from kopf import AnnotationsDiffBaseStorage, DiffBaseStorage, OperatorRegistry, SmartProgressStorage

from switchyard.kopfcompat import bodies, dicts  # the types of kopf's storage API

KEPT = ("metadata", "status")  # the stanzas a progress storage may clear


def essence_needed(registry: OperatorRegistry) -> bool:
    """True when a registered handler reads essences: a change handler, or a timer with `idle=`."""
    if registry._changing.get_all_handlers():
        return True
    return any(getattr(handler, "idle", None) is not None for handler in registry._spawning.get_all_handlers())


class LeanDiffBaseStorage(AnnotationsDiffBaseStorage):
    """The stock annotations diff-base, but the essence is built from the body minus status and metadata
    other than labels and annotations (which the essence drops anyway), or not at all when unread."""

    def __init__(self, *args: Any, needed: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needed = needed

    def build(self, *, body: bodies.Body, extra_fields: Iterable[dicts.FieldSpec] | None = None) -> bodies.BodyEssence:
        if not self.needed:
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

    def fetch(self, *, body: bodies.Body) -> bodies.BodyEssence | None:
        return super().fetch(body=body) if self.needed else None


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


__all__ = ["LeanDiffBaseStorage", "LeanProgressStorage", "essence_needed"]
