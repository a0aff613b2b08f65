"""The Workflow kind: input data plus an explicit DAG of nodes, or a request to be routed."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

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
MAX_NODE_WHEN = 1024  # a node's `when`, as long as a RoutingRule's
MAX_EXIT_NODES = 20
JsonValue = Annotated[Any, Field(json_schema_extra={"x-switchyard-any-json": True})]  # any JSON value
MAX_FOREACH_ITEMS = 10_000  # instances of one forEach node
MAX_STATUS_NODES = MAX_NODES + MAX_FOREACH_ITEMS  # status.nodes entries: the nodes and every forEach instance


class ForEach(ApiModel):
    """Fan-out: the node runs once per item (instances `NODE[0]`, `NODE[1]`, ...), its dependents see them all."""

    items: Annotated[list[JsonValue], Field(max_length=MAX_FOREACH_ITEMS)] | None = Field(
        default=None,
        description="An inline JSON list (at most 10,000 elements, any JSON values): one instance per element.",
    )
    from_node: NodeName | None = Field(
        default=None,
        description="A dependency of this node: one instance per element of its result, which must be a JSON list.",
    )
    expression: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NODE_WHEN)] | None = Field(
        default=None,
        description="A CEL expression over `input`, `upstream` and `params` (as `when` sees them) returning a "
        "list: one instance per element.",
    )
    max_parallel: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="At most this many instances run at once (at most the Workflow's `parallelism`); unset: "
        "as many as `parallelism` allows.",
    )
    min_success_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        default=1.0,
        description="The node Succeeds when this share of its instances succeeded once all ended (1: all).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ForEach:
        given = [name for name in ("items", "from_node", "expression") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"forEach needs exactly one of items, fromNode, expression (got {len(given)})")
        return self


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
    when: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NODE_WHEN)] | None = Field(
        default=None,
        description="A CEL condition checked once the dependencies are done: the node runs only when it is true. "
        "It sees `input` (as RoutingRules do), `upstream.NODE.result` (a dependency's output, parsed as JSON when "
        'it is JSON) and `upstream.NODE.phase` (use `upstream["my-node"]` for names with dashes), and '
        "`params` (a template run's parameter values; empty otherwise). False, or an evaluation error, makes "
        "the node Skipped with reason WhenFalse, which counts as done for its dependents. Checked before the run: "
        "an unknown variable, field or dependency, or a result that is not a bool, makes the Workflow Invalid.",
    )
    for_each: ForEach | None = Field(
        default=None,
        description="Fan-out: run the node once per item of a list (instances `NODE[i]` in `status.nodes`, the item "
        "at /switchyard/item, its index in SWITCHYARD_ITEM_INDEX); dependents see every instance's output under "
        "/switchyard/upstream/NODE/ (`i/result`, and `results.json`: the array of results in index order; with an "
        "artifact store each instance's artifacts at `i/<name>`).",
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


MAX_NOTIFY_URI = 2048


class NotifySink(ApiModel):
    """Where the operator POSTs the Workflow's CloudEvents."""

    uri: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NOTIFY_URI, pattern=r"^https?://[^\s]+$")] = (
        Field(
            description="An http:// or https:// URL; each event is one POST, a CloudEvent in structured mode "
            "(`application/cloudevents+json`)."
        )
    )


class NotifySpec(ApiModel):
    """Outbound events: a CloudEvent `dev.switchyard.workflow.finished` when the Workflow ends."""

    sink: NotifySink = Field(description="The HTTP endpoint that receives the events.")
    retry_seconds: Annotated[int, Field(ge=1, le=86400)] = Field(
        default=600,
        description="How long a delivery is retried (with backoff, from when the Workflow finished) before it is "
        "given up: a Warning Event `NotifyAbandoned`.",
    )


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
    on_exit: Annotated[
        list[NodeSpec],
        Field(
            max_length=MAX_EXIT_NODES,
            description="Exit handlers: nodes run once the DAG has ended, whatever its outcome (also after a "
            "`switchyard stop`; a second stop skips them). They take the node schema; their `dependsOn` names "
            "other exit nodes only. Each sees `/switchyard/workflow.json`: the DAG's phase, message and failed "
            "nodes with their reasons. The Workflow's phase is the DAG's outcome, and Failed if an exit node fails.",
        ),
    ] = []
    reuse: ReuseSpec | None = Field(
        default=None,
        description="Take the outputs of this finished Workflow's succeeded nodes instead of running them again "
        "(`switchyard retry` sets it).",
    )
    notify: NotifySpec | None = Field(
        default=None,
        description="Send a CloudEvent `dev.switchyard.workflow.finished` to this sink when the Workflow ends "
        "(at least once, retried with backoff; it never holds the Workflow up).",
    )

    @model_validator(mode="after")
    def _nodes_or_routing(self) -> WorkflowSpec:
        if self.nodes and "routing" in self.model_fields_set:
            raise ValueError(
                "a Workflow takes either explicit 'nodes' or 'routing' (how to pick a path without nodes), not both"
            )
        return self


PARAM_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_PARAMETERS = 64
MAX_PARAMETER_VALUE = 4096
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=PARAM_NAME)]
ParamValue = Annotated[str, StringConstraints(max_length=MAX_PARAMETER_VALUE)]


class WorkflowTemplateRef(ApiModel):
    name: ObjectName = Field(description="The WorkflowTemplate, in the Workflow's namespace.")


class WorkflowObjectSpec(WorkflowSpec):
    """A Workflow's spec: a run of its own (nodes or routing), or of a WorkflowTemplate with arguments."""

    workflow_template_ref: WorkflowTemplateRef | None = Field(
        default=None,
        description="Run this WorkflowTemplate's workflow with `arguments`. The Workflow's own `input` (when it has "
        "data, a configMapKeyRef or an artifact), `notify`, `activeDeadlineSeconds`, `ttlSecondsAfterFinished`, "
        "`artifactStore` and `reuse` replace the template's; leave `nodes` and `routing` out.",
    )
    arguments: Annotated[
        dict[Annotated[str, StringConstraints(max_length=63)], ParamValue],
        Field(
            max_length=MAX_PARAMETERS,
            description="NAME: VALUE for the template's parameters (strings); a parameter with no default must be "
            "given, and a name the template does not declare is Invalid.",
        ),
    ] = {}

    @model_validator(mode="after")
    def _template_or_dag(self) -> WorkflowObjectSpec:
        for name in self.arguments:
            if not re.match(PARAM_NAME, name):
                raise ValueError(f"argument name {name!r} must be letters, digits and '_', not starting with a digit")
        if self.workflow_template_ref is None:
            if self.arguments:
                raise ValueError("'arguments' are for a workflowTemplateRef; this Workflow names no template")
        elif self.nodes or "routing" in self.model_fields_set:
            raise ValueError(
                "a Workflow with a workflowTemplateRef runs the template's DAG: leave nodes and routing out"
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
        "DependencySkipped, WhenFalse (its `when` was false: done, its dependents run), WaitingForComponent (Pending: "
        "its component's `maxConcurrentRuns` are all running), Stopped...",
    )
    message: ShortText | None = Field(
        default=None,
        description="The detail of `reason`: the container's termination message, or which dependency failed.",
    )
    output: ShortText | None = Field(
        default=None, description="A preview of the output; the whole is in the outputs ConfigMap."
    )
    fallback: Name | None = Field(default=None, description="The fallback component run instead, if any.")
    ready_at: Timestamp | None = Field(
        default=None,
        description="When a node waiting for its component's `maxConcurrentRuns` (reason WaitingForComponent) "
        "became ready: waiting nodes start in this order, across Workflows.",
    )
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
    progress: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="A forEach node: its instances that succeeded / all of them (`17/20`)."
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


MAX_ROUTE_ALTERNATIVES = 8  # models.routing.MAX_ALTERNATIVES (that module imports this one)


class AlternativeEstimate(StatusModel):
    """One alternative of the matching rule, as the operator costed it."""

    index: Annotated[int, Field(ge=0, description="Its position in the rule's `alternatives` (0 is the first).")]
    components: Annotated[list[Name], Field(max_length=MAX_NODES)] = Field(
        default=[], description="Its components, in run order."
    )
    estimate_seconds: float | None = Field(
        default=None,
        description="Its expected duration: the longest path of each component's p50 (else runtimeEstimateSeconds, "
        "else 0) times its expected attempts at the observed failure rate; unset: infinite (a breaker is Open).",
    )
    detail: ShortText = Field(default="", description="How the estimate was made, per component.")


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
    reason: ShortText = Field(
        default="",
        description="Why this route was chosen: a rule's expression with the facts it read (e.g. `size=7340`, "
        "`primary.breaker=Open`), then with `alternatives` the one chosen and each one's estimate.",
    )
    summary: Annotated[str, StringConstraints(max_length=300)] = Field(
        default="", description="One short phrase for `kubectl get`: 'rule NAME', 'analysis' or 'explicit'."
    )
    nodes: Annotated[list[NodeSpec], Field(max_length=MAX_NODES)] | None = Field(
        default=None, description="The DAG a rule chose, when it chose one."
    )
    chosen: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="With a rule's `alternatives`: the index of the one run (the lowest estimate, ties by order).",
    )
    alternatives: Annotated[list[AlternativeEstimate], Field(max_length=MAX_ROUTE_ALTERNATIVES)] | None = Field(
        default=None, description="With a rule's `alternatives`: each one's estimate."
    )


class TemplateSnapshot(StatusModel):
    """The WorkflowTemplate run, resolved when the Workflow started: later edits of the template change nothing."""

    name: Name = Field(description="The WorkflowTemplate.")
    generation: int | None = Field(default=None, description="Its `metadata.generation` when it was read.")
    parameters: Annotated[
        dict[str, Annotated[str, StringConstraints(max_length=MAX_PARAMETER_VALUE)]],
        Field(max_length=MAX_PARAMETERS, description="Every parameter's value: the argument given, else the default."),
    ] = {}
    spec: WorkflowSpec = Field(description="The spec that runs: the template's workflow with the parameters in it.")

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        wire["spec"] = self.spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
        return wire


NotificationState = Literal["Pending", "Delivered", "Abandoned"]


class NotificationStatus(StatusModel):
    """The delivery of the `dev.switchyard.workflow.finished` CloudEvent (`spec.notify`)."""

    id: Annotated[str, StringConstraints(max_length=128)] = Field(
        description="The CloudEvent's id: the same for every attempt of this run (receivers deduplicate by it)."
    )
    state: NotificationState = Field(
        default="Pending", description="Pending (being retried), Delivered (a 2xx answer) or Abandoned."
    )
    attempts: Annotated[int, Field(ge=0, description="POSTs tried so far.")] = 0
    last_error: ShortText | None = Field(default=None, description="Why the latest attempt failed.")
    delivered_at: Timestamp | None = Field(default=None, description="When the sink accepted it.")


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
        dict[str, NodeStatus],
        Field(
            max_length=MAX_STATUS_NODES,
            description="Each node's state, by node name, and each forEach instance's (`NODE[i]`); at most "
            f"{MAX_STATUS_NODES} entries (a forEach that would pass it fails with reason ForEachItems).",
        ),
    ] = {}
    outputs: Annotated[list[Name], Field(max_length=1000, description="ConfigMaps holding node outputs.")] = []
    started_at: Timestamp | None = Field(default=None, description="When the run started.")
    finished_at: Timestamp | None = Field(default=None, description="When the run finished.")
    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(
        default=[],
        description="Valid, Complete and Failed (as a batch/v1 Job's), for `kubectl wait --for=condition=...`.",
    )
    template: TemplateSnapshot | None = Field(
        default=None, description="The WorkflowTemplate run (`spec.workflowTemplateRef`), as resolved at the start."
    )
    notification: NotificationStatus | None = Field(
        default=None, description="The delivery of the finished event to `spec.notify.sink`."
    )
