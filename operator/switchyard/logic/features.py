"""The seam node features plug into: a ready node is offered to each feature before the engine plans its Job.

A pass of the runner is observe -> decide -> act. The decide half of a node feature is a `NodeFeature` (pure,
here in `logic/`): when a node's dependencies are done, the engine (`logic.scheduler`) asks each feature in
order whether it settles the node without a Job (`Settle`: `when` false -> Skipped, a cache hit ->
Succeeded), needs facts first (`Defer`: the runner's observe half gathers them, e.g. upstream results from
the outputs ConfigMaps, and hands them to the next step), or has no say (None: the next feature is asked,
then the Job is planned). A node is offered once per run; its retries are not offered again.

`docs/architecture.md` shows the whole pass and the checklist for adding a feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from switchyard.logic.dag import DagNode
from switchyard.logic.nodestate import NodeState

# A Skipped node with one of these reasons counts as done for its dependents (as Argo's `dependencies`):
# the feature chose not to run it, nothing failed. Other Skipped reasons (DependencyFailed...) skip them too.
WHEN_FALSE = "WhenFalse"  # `when` was false (logic.when)
RELEASING_SKIPS: frozenset[str] = frozenset({WHEN_FALSE})


def satisfies_dependents(status: NodeState) -> bool:
    """Whether a node's end lets its dependents run: it succeeded, fell back, or a feature skipped it."""
    return status.phase in ("Succeeded", "FellBack") or (status.phase == "Skipped" and status.reason in RELEASING_SKIPS)


@dataclass(frozen=True)
class Settle:
    """A feature's verdict on a ready node: it ends now, without a Job."""

    phase: Literal["Succeeded", "Skipped", "Failed"]  # Failed: the node's input is unusable (no Job can help)
    reason: str
    message: str
    output: str | None = None  # Succeeded: the node's full output, persisted as a Job's would be
    # Succeeded through an artifact store: what a Job's stage-out would have reported (ArtifactRef wire form)
    artifacts: tuple[dict[str, object], ...] | None = None
    artifact_manifest: str | None = None
    artifact_bytes: int | None = None
    event: Literal["Normal", "Warning"] | None = None  # an Event of this type, reason `reason`, says so


@dataclass(frozen=True)
class Expand:
    """A feature's verdict on a ready node: it runs as one instance per item (`logic.foreach`); the node itself
    summarizes them. `outputs`: full outputs of instances a restart found Succeeded (index -> output).
    `data`: each item is an output artifact of the `fromNode` dependency, staged at `/switchyard/item.data`."""

    items: tuple[Any, ...]
    outputs: Mapping[int, str] = field(default_factory=dict)
    data: bool = False  # the items describe artifacts (`artifact_item`): each instance also gets the bytes


@dataclass(frozen=True)
class Defer:
    """The feature needs facts about the node before it can decide: `Plan.wanted[feature]` asks for them."""


class RunView(Protocol):
    """What a feature may read of the run (a `WorkflowRun` is one)."""

    @property
    def nodes(self) -> Mapping[str, NodeState]: ...

    def deps_of(self, node: str) -> tuple[str, ...]: ...

    def spec_of(self, node: str) -> DagNode: ...

    def recorded_instances(self, node: str) -> int:
        """How many instances of a forEach node the status read at start recorded (0: not expanded before)."""
        ...


class NodeFeature(Protocol):
    """The decide half of a node feature (see the module's doc)."""

    name: str  # the key of its facts (`Plan.wanted`, `WorkflowRun.step(facts=...)`)

    def applies(self, node: DagNode) -> bool:
        """Whether the feature has anything to say about this node at all (cheap: asked for every node)."""
        ...

    def decide(
        self, node: str, run: RunView, facts: Mapping[str, object], now: datetime
    ) -> Settle | Defer | Expand | None:
        """Settle the ready `node`, expand it into instances, defer it until `facts` (node -> what the observe
        half found) has it, or None."""
        ...


__all__ = [
    "RELEASING_SKIPS",
    "WHEN_FALSE",
    "Defer",
    "Expand",
    "NodeFeature",
    "RunView",
    "Settle",
    "satisfies_dependents",
]
