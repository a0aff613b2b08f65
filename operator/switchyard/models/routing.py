"""The RoutingRule kind: a CEL condition on a workflow's input that picks its processing path."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from switchyard.models.common import (
    ApiModel,
    Conditions,
    NodeName,
    ObjectName,
    ShortText,
    StatusModel,
    Timestamp,
)
from switchyard.models.workflow import NodeSpec

# A rule's `when` is evaluated for every routed input: keep it short (README, "RoutingRule").
MAX_WHEN = 1024
# Comprehensions (all/exists/exists_one/map/filter) nested deeper than this are refused: each level multiplies
# the work by the length of the list it walks (7 levels over 10 items: 6.5 s).
MAX_WHEN_NESTING = 3
MAX_RULE_PATH = 50
MAX_RULE_NODES = 100
MAX_RULE_DEPENDS_ON = 16  # keeps the CRD's "dependsOn names exist" CEL rule within the API server's cost budget


class RuleNodeSpec(NodeSpec):
    """A node of a RoutingRule's DAG: a Workflow node with a smaller fan-in bound."""

    depends_on: Annotated[list[NodeName], Field(max_length=MAX_RULE_DEPENDS_ON)] = []


class RoutingRuleSpec(ApiModel):
    priority: Annotated[int, Field(ge=-1000000, le=1000000, description="Higher first; ties by name.")] = 0
    when: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WHEN)]
    path: Annotated[list[ObjectName], Field(max_length=MAX_RULE_PATH)] | None = None
    nodes: Annotated[list[RuleNodeSpec], Field(max_length=MAX_RULE_NODES)] | None = None
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None

    @model_validator(mode="after")
    def _path_or_nodes(self) -> RoutingRuleSpec:
        if bool(self.path) == bool(self.nodes):
            raise ValueError("a RoutingRule needs exactly one of a non-empty 'path' or 'nodes'")
        return self


class RoutingRuleStatus(StatusModel):
    valid: bool | None = None
    message: ShortText | None = None
    matches: Annotated[int, Field(ge=0)] = 0
    last_matched_at: Timestamp | None = None
    observed_generation: int | None = None
    conditions: Conditions = []
