"""What the run engine (`logic.scheduler`) takes and gives: Job results in, a `Plan` out.

Shared by the engine, the node features (`logic.features`) and the runner's observe and act halves (`k8s/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

PREVIEW = 120

# Waiting: still Active but held up (no Pod yet: a quota); the node shows why and keeps running
JobState = Literal["Active", "Succeeded", "Failed", "Lost", "Rejected", "Waiting"]


def whole_seconds(now: datetime) -> datetime:
    """A node's start or finish as status stamps it: whole seconds, the precision of a Job's start and
    completion times, so a duration compares like with like (a start at .9 s does not shorten a node by 1 s)."""
    return now.replace(microsecond=0)


def preview(text: str, limit: int = PREVIEW) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class JobResult:
    """What the cluster says about the Job of one (node, attempt)."""

    node: str
    attempt: int
    state: JobState
    job: str = ""
    finished_at: datetime | None = None
    reason: str = ""
    message: str = ""  # the container's termination message: the output on success, the error on failure
    blame: bool = True  # False: not the component's failure (the cluster refused or lost it); the breaker ignores it
    transient: bool = False  # Rejected only: the refusal will pass (e.g. a quota): the attempt is not used up
    # Succeeded only: the attempt's output artifacts (ArtifactRef wire form, at most MAX_STATUS_ARTIFACTS) and
    # the key of its manifest (all of them), when the run passes data through an artifact store.
    artifacts: tuple[dict[str, object], ...] | None = None
    artifact_manifest: str | None = None
    artifact_bytes: int | None = None
    # Failed/Lost: the store's trouble, not the Component's (ArtifactStoreUnavailable...): retried with
    # backoff without using up the Component's retry limit (at most STORE_RETRIES times in a row).
    store_trouble: bool = False
    permanent: bool = False  # Failed: a retry cannot help (a policy refuses the Pod): no further attempt
    # Failed only: the cluster ended it (a disruption, a deadline hit before the container ran): retried without
    # using up the retry budget (at most MAX_FREE_RETRIES times per node and run)
    infrastructure: bool = False
    # Failed/Lost: the stage-in found this dependency's artifacts corrupt or missing: it runs again (a new
    # attempt, its own keys) and this node waits for it, as if the dependency had lost its output
    upstream_lost: str | None = None
    cached: bool = False  # Succeeded only: taken from the result cache, no Job ran (reason Cached)
    # Succeeded/Failed: the main container's run time (its startedAt to finishedAt), for component statistics
    ran_seconds: float | None = None


@dataclass(frozen=True)
class Launch:
    node: str
    attempt: int
    component: str  # the component to run: the node's own, or its fallback
    fallback_for: str | None = None


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # node -> full output to persist before status
    changed: set[str] = field(default_factory=set)  # nodes whose status changed
    delete_jobs: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    wake_at: datetime | None = None
    # feature name -> nodes it needs facts about before it can decide them (`logic.features.Defer`): the
    # runner's observe half gathers them and passes them to the next step
    wanted: dict[str, set[str]] = field(default_factory=dict)
    # running nodes this step added with no launch: the instances a forEach, expanding after a restart, found
    # recorded Running. Their Jobs are no one's news yet, so the runner's next pass looks at every running Job.
    restored: set[str] = field(default_factory=set)

    def wake(self, when: datetime) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when


__all__ = ["PREVIEW", "JobResult", "JobState", "Launch", "Plan", "preview", "whole_seconds"]
