"""A node's live state inside a run: the fields of `NodeStatus` as a plain slotted record, and its wire form.

A run keeps one per node for as long as it runs (20,000 at 1,000 Workflows x 20 nodes), and the engine sets
their fields on every step. A pydantic model costs ~1.1 KiB each (instance, dict and fields-set set) and
0.4 µs per assignment; this record costs 112 bytes and a plain store (0.1 µs). `NodeStatus` stays the schema of the
status: a run starts from it (`of`) and writes `wire()`, which is exactly `NodeStatus.model_dump` in JSON mode.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from switchyard.models.common import string_limits, truncate
from switchyard.models.workflow import NodePhase, NodeStatus


def wire_time(value: datetime | None) -> str | None:
    """A timestamp as pydantic writes it in JSON mode: ISO 8601, a zero UTC offset spelt 'Z'."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def implied_attempts(phase: str, reason: str | None) -> int:
    """The attempts a forEach instance's compact status leaves out: none while Pending, one when it succeeded
    with no reason (its first Job did it; a reused or cached instance has a reason and keeps its count)."""
    return 1 if phase == "Succeeded" and reason is None else 0


@dataclass(slots=True)
class NodeState:
    phase: NodePhase = "Pending"
    attempts: int = 0
    job: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_retry_at: datetime | None = None
    reason: str | None = None
    message: str | None = None
    output: str | None = None
    fallback: str | None = None
    ready_at: datetime | None = None  # a node waiting for a component slot: since when (`logic.slots`)
    artifacts: list[dict[str, Any]] | None = None  # ArtifactRef in wire form (only a succeeded node has them)
    artifact_manifest: str | None = None
    artifact_bytes: int | None = None
    progress: str | None = None  # a forEach node: succeeded/total instances

    @classmethod
    def of(cls, status: NodeStatus) -> NodeState:
        values = [getattr(status, f.name) for f in fields(cls)]  # same names and order (a test checks)
        state = cls(*values)
        if status.artifacts is not None:
            state.artifacts = [a.model_dump(mode="json", by_alias=True) for a in status.artifacts]
        return state

    def wire(self) -> dict[str, Any]:
        """The node's status as the API stores it: camelCase keys, nulls kept (a merge patch removes with them),
        every string cut to its schema bound, as `NodeStatus`'s serializer does."""
        limits = string_limits(NodeStatus)  # cached per model
        return {
            "phase": self.phase,
            "attempts": self.attempts,
            "job": _fit(self.job, limits["job"]),
            "startedAt": wire_time(self.started_at),
            "finishedAt": wire_time(self.finished_at),
            "nextRetryAt": wire_time(self.next_retry_at),
            "reason": _fit(self.reason, limits["reason"]),
            "message": _fit(self.message, limits["message"]),
            "output": _fit(self.output, limits["output"]),
            "fallback": _fit(self.fallback, limits["fallback"]),
            "readyAt": wire_time(self.ready_at),
            "artifacts": self.artifacts,
            "artifactManifest": self.artifact_manifest,
            "artifactBytes": self.artifact_bytes,
            "progress": self.progress,
        }


def _fit(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else truncate(text, limit)


__all__ = ["NodeState", "wire_time"]
