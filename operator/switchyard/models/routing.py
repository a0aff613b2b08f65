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
from switchyard.models.workflow import MAX_ROUTE_ALTERNATIVES, NodeSpec

# A rule's `when` is evaluated for every routed input: keep it short (README, "RoutingRule").
MAX_WHEN = 1024
# Comprehensions (all/exists/exists_one/map/filter) nested deeper than this are refused: each level multiplies
# the work by the length of the list it walks (7 levels over 10 items: 6.5 s).
MAX_WHEN_NESTING = 3
MAX_RULE_PATH = 50
MAX_RULE_NODES = 100
MAX_RULE_DEPENDS_ON = 16  # keeps the CRD's "dependsOn names exist" CEL rule within the API server's cost budget
MAX_ALTERNATIVES = MAX_ROUTE_ALTERNATIVES


class RuleNodeSpec(NodeSpec):
    """A node of a RoutingRule's DAG: a Workflow node with a smaller fan-in bound."""

    depends_on: Annotated[
        list[NodeName],
        Field(
            max_length=MAX_RULE_DEPENDS_ON,
            description="Nodes that must have succeeded (or fallen back) before this one starts; a failed one skips "
            "it.",
        ),
    ] = []


class Alternative(ApiModel):
    """One candidate of a rule's `alternatives`: a path or a DAG, like a rule's single target."""

    path: Annotated[list[ObjectName], Field(max_length=MAX_RULE_PATH)] | None = Field(
        default=None, description="The chain of components to run, each after the one before."
    )
    nodes: Annotated[list[RuleNodeSpec], Field(max_length=MAX_RULE_NODES)] | None = Field(
        default=None, description="A DAG to run instead of a path."
    )

    @model_validator(mode="after")
    def _path_or_nodes(self) -> Alternative:
        if bool(self.path) == bool(self.nodes):
            raise ValueError("an alternative needs exactly one of a non-empty 'path' or 'nodes'")
        return self


class RoutingRuleSpec(ApiModel):
    priority: Annotated[int, Field(ge=-1000000, le=1000000, description="Higher first; ties by name.")] = 0
    when: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WHEN)] = Field(
        description="A CEL expression over `input` (data, json, contentType, size, labels), `params` (a "
        "WorkflowTemplate run's parameter values, else empty) and `components` (the health of the namespace's "
        "Components: `components.NAME.breaker` Closed|Open|HalfOpen, `components.NAME.failureRate` 0..1, "
        '`components.NAME.duration.p90` seconds; `components["a-b"]` for names with a dash); the rule matches '
        "when it is true. An evaluation error (e.g. a missing key: guard it with `has(input.json.kind)`, or a "
        "Component that does not exist) is no match."
    )
    path: Annotated[list[ObjectName], Field(max_length=MAX_RULE_PATH)] | None = Field(
        default=None, description="The chain of components to run, each after the one before."
    )
    nodes: Annotated[list[RuleNodeSpec], Field(max_length=MAX_RULE_NODES)] | None = Field(
        default=None, description="A DAG to run instead of a path."
    )
    alternatives: Annotated[list[Alternative], Field(min_length=1, max_length=MAX_ALTERNATIVES)] | None = Field(
        default=None,
        description="Candidates instead of one path or DAG: the operator runs the one with the lowest expected "
        "cost from the Components' statistics (each component's p50 duration, else its runtimeEstimateSeconds, "
        "else 0, times its expected attempts at the observed failure rate under its retry limit; an Open breaker "
        "is infinite), ties by order. The choice and each estimate are in the Workflow's `status.route`.",
    )
    description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="What the rule is for, for people."
    )

    @model_validator(mode="after")
    def _path_or_nodes(self) -> RoutingRuleSpec:
        if sum((bool(self.path), bool(self.nodes), bool(self.alternatives))) != 1:
            raise ValueError("a RoutingRule needs exactly one of a non-empty 'path', 'nodes' or 'alternatives'")
        return self


class RoutingRuleStatus(StatusModel):
    """Whether the rule is valid and how often it matched, written by the operator."""

    valid: bool | None = Field(default=None, description="Whether `when` compiles and the path or DAG is valid.")
    message: ShortText | None = Field(default=None, description="Why the rule is invalid, if it is.")
    matches: Annotated[int, Field(ge=0, description="How many Workflows this rule routed.")] = 0
    last_matched_at: Timestamp | None = Field(default=None, description="When it last routed a Workflow.")
    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(default=[], description="Ready: the rule is valid and is tried.")
