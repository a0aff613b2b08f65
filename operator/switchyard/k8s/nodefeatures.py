"""The node features of a run: their decide halves (`logic.features`) and, for those that defer, the sources
of their facts (`nodefacts`). Adding a feature means one entry here (see `docs/architecture.md`)."""

from __future__ import annotations

from switchyard.k8s.nodefacts import NodeFacts
from switchyard.logic.features import NodeFeature
from switchyard.models.workflow import WorkflowSpec


def features(spec: WorkflowSpec, facts: NodeFacts) -> list[NodeFeature]:
    """The features offered each ready node of this run, in order; their fact sources registered on `facts`."""
    found: list[NodeFeature] = []
    return found


__all__ = ["features"]
