"""What each kind looks like as a CustomResourceDefinition: names, printer columns, CEL rules.

Pure data next to the models; `switchyard.schema.crdgen` turns it into `crds/*.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from switchyard.models.artifactstore import ArtifactStoreSpec, ArtifactStoreStatus
from switchyard.models.common import MAX_INPUT_BYTES
from switchyard.models.component import ComponentSpec, ComponentStatus
from switchyard.models.routing import MAX_WHEN_NESTING, RoutingRuleSpec, RoutingRuleStatus
from switchyard.models.template import WorkflowTemplateSpec, WorkflowTemplateStatus
from switchyard.models.trigger import TriggerSpec, TriggerStatus
from switchyard.models.workflow import PARAM_NAME, WorkflowObjectSpec, WorkflowStatus

GROUP = "switchyard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "switchyard"
# RE2 (Kubernetes CEL `matches`): comprehension calls nested too deep, see the RoutingRule `spec.when` rule.
MACRO_NESTING_PATTERN = r"(\.\s*(all|exists|exists_one|map|filter)\s*\([^)\x22\x27]*)" + f"{{{MAX_WHEN_NESTING + 1}}}"


READY_STATUS = '.status.conditions[?(@.type=="Ready")].status'
READY_REASON = '.status.conditions[?(@.type=="Ready")].reason'


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """A CEL `x-kubernetes-validations` rule placed at a JSON path (dotted, `[]` for list items) of the schema."""

    at: str
    rule: str
    message: str
    reason: str = "FieldValueInvalid"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    rules: tuple[Rule, ...] = ()
    list_map_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")

WORKFLOW = Kind(
    kind="Workflow",
    plural="workflows",
    singular="workflow",
    short_names=("sywf",),
    spec=WorkflowObjectSpec,
    status=WorkflowStatus,
    description="Input data plus an explicit DAG of nodes, or a request to be routed; run as one Job per node.",
    columns=(
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Progress", ".status.progress"),
        PrinterColumn("Route", ".status.route.summary"),
        PrinterColumn("Message", ".status.message", priority=1),
        AGE,
    ),
    list_map_keys={
        "spec.nodes": ("name",),
        "spec.onExit": ("name",),
        "status.route.nodes": ("name",),
        "status.template.spec.nodes": ("name",),
        "status.template.spec.onExit": ("name",),
    },
    rules=(
        Rule(
            "spec",
            "self == oldSelf",
            "spec is immutable once the Workflow exists; create a new Workflow instead",
        ),
        Rule(
            "spec",
            "!has(self.routing) || !has(self.nodes) || size(self.nodes) == 0",
            "a Workflow takes either explicit nodes or routing (how to pick a path without nodes), not both",
        ),
        Rule(
            "spec",
            "!has(self.workflowTemplateRef) || ((!has(self.nodes) || size(self.nodes) == 0) && !has(self.routing))",
            "a Workflow with a workflowTemplateRef runs the template's DAG: leave nodes and routing out",
        ),
        Rule(
            "spec",
            "has(self.workflowTemplateRef) || !has(self.arguments) || size(self.arguments) == 0",
            "arguments are for a workflowTemplateRef; this Workflow names no template",
        ),
        Rule(
            "spec.arguments",
            f"self.all(k, k.matches('{PARAM_NAME}'))",
            "argument names are letters, digits and _, not starting with a digit",
        ),
        Rule(
            "spec.input",
            "!(has(self.data) && has(self.configMapKeyRef))",
            "input takes either data or configMapKeyRef, not both",
        ),
        Rule(
            "spec.input",
            "!has(self.artifact) || !(has(self.data) || has(self.configMapKeyRef))",
            "input takes one of data, configMapKeyRef or artifact, not several",
        ),
        # maxLength counts characters; the limit is in bytes (UTF-8), as the README says.
        Rule(
            "spec.input.data",
            f"size(bytes(self)) <= {MAX_INPUT_BYTES}",
            f"input data must be at most {MAX_INPUT_BYTES} bytes (UTF-8); use configMapKeyRef for up to 1 MiB",
            reason="FieldValueTooLong",
        ),
    ),
)

COMPONENT = Kind(
    kind="Component",
    plural="components",
    singular="component",
    short_names=("sycomp",),
    spec=ComponentSpec,
    status=ComponentStatus,
    description="A registered processor type: image, command, config defaults, retry, circuit breaker, fallback.",
    columns=(
        PrinterColumn("Image", ".spec.image"),
        PrinterColumn("Breaker", ".status.breaker.state"),
        PrinterColumn("Running", ".status.running", "integer"),
        PrinterColumn("Waiting", ".status.waiting", "integer"),
        PrinterColumn("Failure-Rate", ".status.stats.failureRate", "number"),
        PrinterColumn("P50", ".status.stats.duration.p50", "number", priority=1),
        PrinterColumn("Runs", ".status.runs", "integer", priority=1),
        PrinterColumn("Failures", ".status.failures", "integer", priority=1),
        AGE,
    ),
    rules=(
        Rule(
            "spec.fallback",
            "has(self.component) != has(self.output)",
            "fallback needs exactly one of component or output",
        ),
        Rule(
            "spec.retry.backoff",
            "!has(self.maxSeconds) || !has(self.initialSeconds) || self.maxSeconds >= self.initialSeconds",
            "backoff maxSeconds must not be less than initialSeconds",
        ),
    ),
)

ROUTING_RULE = Kind(
    kind="RoutingRule",
    plural="routingrules",
    singular="routingrule",
    short_names=("syrule",),
    spec=RoutingRuleSpec,
    status=RoutingRuleStatus,
    description="A CEL condition on a workflow's input data, with a priority, that picks the processing path.",
    columns=(
        PrinterColumn("Priority", ".spec.priority", "integer"),
        PrinterColumn("When", ".spec.when"),
        PrinterColumn("Valid", ".status.valid", "boolean"),
        PrinterColumn("Matches", ".status.matches", "integer", priority=1),
        AGE,
    ),
    list_map_keys={"spec.nodes": ("name",), "spec.alternatives[].nodes": ("name",)},
    rules=(
        Rule(
            "spec",
            "(has(self.path) && size(self.path) > 0 ? 1 : 0) + (has(self.nodes) && size(self.nodes) > 0 ? 1 : 0) + "
            "(has(self.alternatives) && size(self.alternatives) > 0 ? 1 : 0) == 1",
            "a RoutingRule needs exactly one of a non-empty path, nodes or alternatives",
        ),
        Rule(
            "spec.alternatives[]",
            "(has(self.path) && size(self.path) > 0) != (has(self.nodes) && size(self.nodes) > 0)",
            "an alternative needs exactly one of a non-empty path or nodes",
        ),
        Rule(
            "spec.nodes",
            "self.all(n, !has(n.dependsOn) || n.dependsOn.all(d, self.exists(m, m.name == d)))",
            "every dependsOn entry must name a node of this rule",
        ),
        Rule(
            "spec.when",
            # MAX_WHEN_NESTING + 1 comprehension calls opening with no `)` or quote between them are certainly
            # nested that deep (a closed call leaves a `)` behind). Sound, not complete: the operator's check
            # (logic.celcheck) catches the rest. \x22 and \x27 are the two quote characters.
            f"!self.matches(r'{MACRO_NESTING_PATTERN}')",
            f"comprehensions (all/exists/exists_one/map/filter) may be nested at most {MAX_WHEN_NESTING} deep",
        ),
    ),
)

# Rules stay cheap for the API server's CEL cost estimate (10M per rule, multiplied by the maxItems of every
# enclosing list): checks over the 5,000-node Workflow DAG (self or unknown dependencies, cycles) are the
# operator's, with exact messages in status; the 100-node RoutingRule DAG is checked here as well.
TRIGGER = Kind(
    kind="Trigger",
    plural="triggers",
    singular="trigger",
    short_names=("sytrig",),
    spec=TriggerSpec,
    status=TriggerStatus,
    description="CloudEvents posted to the operator's ingest endpoint start Workflows: one per event or per batch.",
    columns=(
        PrinterColumn("Ready", READY_STATUS, description="The Ready condition: True when events are accepted."),
        PrinterColumn("Reason", READY_REASON, description="Why the Trigger is (not) Ready."),
        PrinterColumn("Types", ".spec.eventTypes"),
        PrinterColumn("Events", ".status.received", "integer"),
        PrinterColumn("Accepted", ".status.accepted", "integer"),
        PrinterColumn("Workflows", ".status.workflowsCreated", "integer"),
        PrinterColumn("Pending", ".status.batchesPending", "integer"),
        PrinterColumn(
            "Next",
            ".status.nextScheduleTime",
            description="The next schedule tick, as a time (kubectl shows a future date column as <invalid>).",
        ),
        PrinterColumn("Last-Schedule", ".status.lastScheduleTime", "date", priority=1),
        PrinterColumn("Succeeded", ".status.workflows.succeeded", "integer", priority=1),
        PrinterColumn("Failed", ".status.workflows.failed", "integer", priority=1),
        PrinterColumn("Last-Error", ".status.lastError", priority=1),
        AGE,
    ),
    list_map_keys={"spec.workflowTemplate.nodes": ("name",)},
    rules=(
        Rule(
            "spec.workflowTemplate.input",
            "!has(self.data) && !has(self.configMapKeyRef)",
            "the workflowTemplate's input comes from the events; leave data and configMapKeyRef out",
        ),
        Rule(
            "spec",
            "has(self.workflowTemplate) != has(self.workflowTemplateRef)",
            "a Trigger takes exactly one of workflowTemplate or workflowTemplateRef",
        ),
    ),
)

ARTIFACT_STORE = Kind(
    kind="ArtifactStore",
    plural="artifactstores",
    singular="artifactstore",
    short_names=("systore",),
    spec=ArtifactStoreSpec,
    status=ArtifactStoreStatus,
    description="An S3-compatible bucket for artifacts; a namespace's Workflows use the one named `default`.",
    columns=(
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Endpoint", ".spec.s3.endpoint"),
        PrinterColumn("Bucket", ".spec.s3.bucket"),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
        AGE,
    ),
)

WORKFLOW_TEMPLATE = Kind(
    kind="WorkflowTemplate",
    plural="workflowtemplates",
    singular="workflowtemplate",
    short_names=("sywft",),
    spec=WorkflowTemplateSpec,
    status=WorkflowTemplateStatus,
    description="A Workflow spec with parameters, written once and run by Workflows that name it "
    "(`spec.workflowTemplateRef`).",
    columns=(
        PrinterColumn("Ready", READY_STATUS, description="The Ready condition: True when the spec can run."),
        PrinterColumn("Parameters", ".spec.parameters[*].name", description="The parameters' names."),
        PrinterColumn("Reason", READY_REASON, priority=1),
        AGE,
    ),
    list_map_keys={"spec.workflow.nodes": ("name",), "spec.parameters": ("name",)},
    rules=(
        Rule(
            "spec.workflow",
            "!has(self.routing) || !has(self.nodes) || size(self.nodes) == 0",
            "a Workflow takes either explicit nodes or routing (how to pick a path without nodes), not both",
        ),
        Rule(
            "spec.workflow.input",
            "!(has(self.data) && has(self.configMapKeyRef)) && "
            "(!has(self.artifact) || !(has(self.data) || has(self.configMapKeyRef)))",
            "input takes one of data, configMapKeyRef or artifact, not several",
        ),
    ),
)

KINDS: tuple[Kind, ...] = (WORKFLOW, COMPONENT, ROUTING_RULE, TRIGGER, ARTIFACT_STORE, WORKFLOW_TEMPLATE)
