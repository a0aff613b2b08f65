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

    name: NodeName = Field(
        description="The node's name, unique in the DAG (a DNS label); `dependsOn` entries and the status refer to it."
    )
    component: ObjectName = Field(description="The Component (in the Workflow's namespace) this node runs.")
    depends_on: Annotated[
        list[NodeName],
        Field(
            max_length=MAX_DEPENDS_ON,
            description="Nodes that must have succeeded (or fallen back) before this one starts; a failed one skips "
            "it.",
        ),
    ] = []
    config: FreeForm = Field(
        default={},
        description="Configuration for this run, merged over the Component's `config` (nested objects key by key).",
    )


class ConfigMapKeyRef(ApiModel):
    name: ObjectName = Field(description="The ConfigMap, in the Workflow's namespace.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")] = Field(
        description="The key of the ConfigMap whose value is the input."
    )


ArtifactKey = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^/].*$")]


class ArtifactInput(ApiModel):
    key: ArtifactKey = Field(
        description="The object's key in the Workflow's ArtifactStore (under the store's prefix, if it has one); "
        "any size: it is streamed to each node's `/switchyard/input`, never copied into etcd."
    )


class InputSpec(ApiModel):
    """The workflow's input: inline `data`, a key of a ConfigMap in the same namespace, or an artifact."""

    data: Annotated[str, StringConstraints(max_length=MAX_INPUT_BYTES)] | None = Field(
        default=None, description="The input itself, inline (at most 512 KiB in UTF-8)."
    )
    config_map_key_ref: ConfigMapKeyRef | None = Field(
        default=None, description="Read the input from a ConfigMap key instead (up to 1 MiB)."
    )
    artifact: ArtifactInput | None = Field(
        default=None,
        description="Read the input from an object of the Workflow's ArtifactStore instead (any size). Routing "
        "and analysis see its size, content type and at most its first 64 KiB.",
    )
    content_type: Annotated[str, StringConstraints(max_length=255)] = Field(
        default="text/plain",
        description="The input's media type (`application/json`, `text/csv`...); RoutingRules see it as "
        "`input.contentType`.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> InputSpec:
        given = [n for n, v in (("data", self.data), ("configMapKeyRef", self.config_map_key_ref),
                                ("artifact", self.artifact)) if v is not None]  # fmt: skip
        if len(given) > 1:
            if "artifact" in given:
                raise ValueError("input takes one of 'data', 'configMapKeyRef' or 'artifact', not several")
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
    match_labels: Annotated[
        dict[LabelKey, LabelValue],
        Field(max_length=64, description="Labels a RoutingRule must have (all of them) to be tried."),
    ] = {}


class RoutingSpec(ApiModel):
    """How a workflow without nodes picks its path: RoutingRules (optionally selected), then data analysis."""

    rule_selector: LabelSelector | None = Field(
        default=None,
        description="Only the RoutingRules with these labels are tried; unset tries every rule in the namespace.",
    )
    analysis: bool = Field(
        default=True,
        description="When no rule matches, pick the path by analysing the data (JSON, size, digits); false: no "
        "match is Invalid.",
    )


FailurePolicy = Literal["FailFast", "Continue"]


class ReuseSpec(ApiModel):
    """Re-run a finished Workflow: its nodes that succeeded (same name, same component) are not run again."""

    workflow: Annotated[ObjectName, Field(description="A finished Workflow in the same namespace.")]


class WorkflowSpec(ApiModel):
    input: InputSpec = Field(
        default_factory=InputSpec, description="The data the nodes process (inline or from a ConfigMap)."
    )
    nodes: Annotated[
        list[NodeSpec],
        Field(
            max_length=MAX_NODES,
            description="An explicit DAG of nodes; without nodes the Workflow is routed (RoutingRules, then analysis).",
        ),
    ] = []
    # Left out of the CRD defaults on purpose (no `default` in the schema), so that "routing given" stays
    # visible: a spec with nodes and routing is rejected instead of the routing being silently ignored.
    routing: RoutingSpec = Field(
        default_factory=RoutingSpec, description="How to pick a path when there are no nodes; not allowed with nodes."
    )
    parallelism: Annotated[
        int, Field(ge=1, le=1000, description="At most this many of the Workflow's nodes run at once.")
    ] = 10
    failure_policy: FailurePolicy = Field(
        default="FailFast",
        description="FailFast: after a node fails nothing new starts and waiting nodes are Skipped; Continue: "
        "branches that do not depend on the failed node go on.",
    )
    active_deadline_seconds: Annotated[int, Field(ge=1, le=30 * 86400)] | None = Field(
        default=None,
        description="Fail the Workflow (reason DeadlineExceeded) this long after it started: running Jobs are "
        "deleted, waiting nodes Skipped.",
    )
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=365 * 86400)] | None = Field(
        default=None,
        description="Delete the finished Workflow (with its Jobs and outputs) this long after it finished; unset "
        "keeps it.",
    )
    artifact_store: ObjectName | None = Field(
        default=None,
        description="The ArtifactStore (in the Workflow's namespace) holding the input artifact and the nodes' "
        "output artifacts; unset: the store named `default`, when the namespace has one.",
    )
    artifact_gc: Literal["OnWorkflowDeletion", "Never"] = Field(
        default="OnWorkflowDeletion",
        alias="artifactGC",
        description="OnWorkflowDeletion: the nodes' output artifacts are deleted from the store once the Workflow "
        "is deleted (by the operator's periodic sweep; the deletion never waits for the store); Never: they are "
        "kept (the marker object `.retain` is written beside them). Input objects are never deleted.",
    )
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
    phase: NodePhase = Field(
        default="Pending",
        description="Pending, Running, Retrying (waiting for its next attempt), Succeeded, Failed, Skipped (not "
        "run) or FellBack (its fallback ran).",
    )
    attempts: Annotated[int, Field(ge=0, description="How many attempts have started.")] = 0
    job: Name | None = Field(default=None, description="The Job of the latest attempt.")
    started_at: Timestamp | None = Field(
        default=None, description="When the first attempt started (whole seconds, as a Job's times)."
    )
    finished_at: Timestamp | None = Field(default=None, description="When the node finished (whole seconds).")
    next_retry_at: Timestamp | None = Field(default=None, description="When a Retrying node's next attempt starts.")
    reason: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None,
        description="Why the node is in its phase: the Job's failure reason, CircuitOpen, DependencyFailed, "
        "DependencySkipped, Stopped...",
    )
    message: ShortText | None = Field(
        default=None,
        description="The detail of `reason`: the container's termination message, or which dependency failed.",
    )
    output: ShortText | None = Field(
        default=None, description="A preview of the output; the whole is in the outputs ConfigMap."
    )
    fallback: Name | None = Field(default=None, description="The fallback component run instead, if any.")
    artifacts: Annotated[list[ArtifactRef], Field(max_length=MAX_STATUS_ARTIFACTS)] | None = Field(
        default=None,
        description="The output artifacts of the attempt that succeeded (the first 100 by name; all of them are "
        "in `artifactManifest`).",
    )
    artifact_manifest: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None,
        description="The key of the succeeding attempt's manifest object: every artifact with size and digest.",
    )
    artifact_bytes: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="The total size of the node's artifacts, in bytes."
    )


class ArtifactRef(StatusModel):
    """One output file of a node, uploaded to the store by the attempt that succeeded."""

    name: Annotated[str, StringConstraints(max_length=512)] = Field(
        description="The file's path under the node's `/switchyard/outputs/` (and downstream under "
        "`/switchyard/upstream/<node>/`)."
    )
    key: Annotated[str, StringConstraints(max_length=1024)] = Field(description="The object's key in the store.")
    size: Annotated[int, Field(ge=0, description="Its size in bytes.")]
    digest: Annotated[str, StringConstraints(max_length=71)] = Field(description="`sha256:<hex>` of its bytes.")


MAX_STATUS_ARTIFACTS = 100


RouteSource = Literal["Explicit", "Rule", "Analysis"]


class RouteStatus(StatusModel):
    source: RouteSource = Field(
        default="Explicit",
        description="Where the path came from: Explicit (spec.nodes), Rule (a RoutingRule) or Analysis (of the data).",
    )
    rule: Name | None = Field(
        default=None, description="The matching RoutingRule; unset for explicit or analysed routes."
    )
    path: Annotated[
        list[Name], Field(max_length=MAX_NODES, description="The chosen chain of components, when the route is a path.")
    ] = []
    reason: ShortText = Field(default="", description="Why this route was chosen.")
    summary: Annotated[str, StringConstraints(max_length=300)] = Field(
        default="", description="One short phrase for `kubectl get`: 'rule NAME', 'analysis' or 'explicit'."
    )
    nodes: Annotated[list[NodeSpec], Field(max_length=MAX_NODES)] | None = Field(
        default=None, description="The DAG a rule chose, when it chose one."
    )


class WorkflowStatus(StatusModel):
    """The state of the run, written by the operator: phase, progress, route, each node, conditions."""

    phase: WorkflowPhase = Field(
        default="Pending",
        description="Pending, Running, Succeeded, Failed or Invalid (the spec cannot run; see the Valid condition).",
    )
    progress: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="`ok/total`: nodes that Succeeded or FellBack, of all nodes."
    )
    message: ShortText | None = Field(
        default=None, description="A one-line summary of the run (which nodes failed, why it is Invalid)."
    )
    route: RouteStatus | None = Field(
        default=None, description="How the nodes were chosen: explicit, a RoutingRule, or data analysis."
    )
    nodes: Annotated[
        dict[str, NodeStatus], Field(max_length=MAX_NODES, description="Each node's state, by node name.")
    ] = {}
    outputs: Annotated[list[Name], Field(max_length=1000, description="ConfigMaps holding node outputs.")] = []
    started_at: Timestamp | None = Field(default=None, description="When the run started.")
    finished_at: Timestamp | None = Field(default=None, description="When the run finished.")
    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(
        default=[],
        description="Valid, Complete and Failed (as a batch/v1 Job's), for `kubectl wait --for=condition=...`.",
    )
