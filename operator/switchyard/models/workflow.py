"""The Workflow kind: input data plus an explicit DAG of nodes, or a request to be routed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from switchyard.models.common import (
    MAX_DEPENDS_ON,
    MAX_INPUT_BYTES,
    MAX_NODES,
    ApiModel,
    Conditions,
    FreeForm,
    NodeName,
    ObjectName,
    ShortText,
    StatusModel,
    Timestamp,
)

Name = Annotated[str, StringConstraints(max_length=253)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]


class NodeSpec(ApiModel):
    """One DAG node: a named run of a Component after its dependencies succeeded."""

    name: NodeName
    component: ObjectName
    depends_on: Annotated[list[NodeName], Field(max_length=MAX_DEPENDS_ON)] = []
    config: FreeForm = {}


class ConfigMapKeyRef(ApiModel):
    name: ObjectName
    key: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class InputSpec(ApiModel):
    """The workflow's input: inline `data` or a key of a ConfigMap in the same namespace."""

    data: Annotated[str, StringConstraints(max_length=MAX_INPUT_BYTES)] | None = None
    config_map_key_ref: ConfigMapKeyRef | None = None
    content_type: Annotated[str, StringConstraints(max_length=255)] = "text/plain"

    @model_validator(mode="after")
    def _one_source(self) -> InputSpec:
        if self.data is not None and self.config_map_key_ref is not None:
            raise ValueError("input takes either 'data' or 'configMapKeyRef', not both")
        if self.data is not None:
            size = utf8_size(self.data)
            if size > MAX_INPUT_BYTES:
                raise ValueError(
                    f"input data is {size} bytes (UTF-8); the limit is {MAX_INPUT_BYTES} bytes "
                    "(use configMapKeyRef for up to 1 MiB)"
                )
        return self


def utf8_size(text: str) -> int:
    """The size of `text` in bytes as the API server stores it (UTF-8), which is what the limits count."""
    return len(text.encode("utf-8", errors="surrogatepass"))


class LabelSelector(ApiModel):
    match_labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=64)] = {}


class RoutingSpec(ApiModel):
    """How a workflow without nodes picks its path: RoutingRules (optionally selected), then data analysis."""

    rule_selector: LabelSelector | None = None
    analysis: bool = True


FailurePolicy = Literal["FailFast", "Continue"]


class ReuseSpec(ApiModel):
    """Re-run a finished Workflow: its nodes that succeeded (same name, same component) are not run again."""

    workflow: Annotated[ObjectName, Field(description="A finished Workflow in the same namespace.")]


class WorkflowSpec(ApiModel):
    input: InputSpec = Field(default_factory=InputSpec)
    nodes: Annotated[list[NodeSpec], Field(max_length=MAX_NODES)] = []
    # Left out of the CRD defaults on purpose (no `default` in the schema), so that "routing given" stays
    # visible: a spec with nodes and routing is rejected instead of the routing being silently ignored.
    routing: RoutingSpec = Field(
        default_factory=RoutingSpec, description="How to pick a path when there are no nodes; not allowed with nodes."
    )
    parallelism: Annotated[int, Field(ge=1, le=1000)] = 10
    failure_policy: FailurePolicy = "FailFast"
    active_deadline_seconds: Annotated[int, Field(ge=1, le=30 * 86400)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=365 * 86400)] | None = None
    reuse: ReuseSpec | None = Field(
        default=None,
        description="Take the outputs of this finished Workflow's succeeded nodes instead of running them again "
        "(`switchyard retry` sets it).",
    )

    @model_validator(mode="after")
    def _nodes_or_routing(self) -> WorkflowSpec:
        if self.nodes and "routing" in self.model_fields_set:
            raise ValueError(
                "a Workflow takes either explicit 'nodes' or 'routing' (how to pick a path without nodes), not both"
            )
        return self


WorkflowPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Invalid"]
NodePhase = Literal["Pending", "Running", "Retrying", "Succeeded", "Failed", "Skipped", "FellBack"]


class NodeStatus(StatusModel):
    phase: NodePhase = "Pending"
    attempts: Annotated[int, Field(ge=0)] = 0
    job: Name | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    next_retry_at: Timestamp | None = None
    reason: Annotated[str, StringConstraints(max_length=128)] | None = None
    message: ShortText | None = None
    output: ShortText | None = Field(
        default=None, description="A preview of the output; the whole is in the outputs ConfigMap."
    )
    fallback: Name | None = Field(default=None, description="The fallback component run instead, if any.")


RouteSource = Literal["Explicit", "Rule", "Analysis"]


class RouteStatus(StatusModel):
    source: RouteSource = "Explicit"
    rule: Name | None = Field(
        default=None, description="The matching RoutingRule; unset for explicit or analysed routes."
    )
    path: Annotated[list[Name], Field(max_length=MAX_NODES)] = []
    reason: ShortText = ""
    summary: Annotated[str, StringConstraints(max_length=300)] = Field(
        default="", description="One short phrase for `kubectl get`: 'rule NAME', 'analysis' or 'explicit'."
    )
    nodes: Annotated[list[NodeSpec], Field(max_length=MAX_NODES)] | None = Field(
        default=None, description="The DAG a rule chose, when it chose one."
    )


class WorkflowStatus(StatusModel):
    phase: WorkflowPhase = "Pending"
    progress: Annotated[str, StringConstraints(max_length=32)] | None = None
    message: ShortText | None = None
    route: RouteStatus | None = None
    nodes: Annotated[dict[str, NodeStatus], Field(max_length=MAX_NODES)] = {}
    outputs: Annotated[list[Name], Field(max_length=1000, description="ConfigMaps holding node outputs.")] = []
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    observed_generation: int | None = None
    conditions: Conditions = []
