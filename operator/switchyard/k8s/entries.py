"""Summaries of watched objects, kept in kopf indexes and the informer's stores: what the controller needs.

Each function turns a raw body into a small frozen value (or None to leave the object out).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from switchyard.k8s.staging import STAGE_IN, STAGE_OUT
from switchyard.logic.foreach import node_of_key
from switchyard.logic.routing import CompiledRule, compile_rule
from switchyard.logic.scheduler import JobState
from switchyard.models.component import ComponentSpec, ComponentStatus
from switchyard.models.labels import ANNOTATION_WORKFLOW, LABEL_ATTEMPT, LABEL_COMPONENT, LABEL_NODE
from switchyard.models.routing import RoutingRuleSpec, RoutingRuleStatus

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
# Waiting reasons after which a Pod never starts on its own (ImagePullBackOff is left alone: registries recover).
STUCK_REASONS = frozenset({"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"})


def shared(value: Any) -> str:
    """One string object for text that many entries repeat (workflow, node, owner uid, phase, reason): each
    watch event decodes its own copies, and the stores keep one entry per Job and Pod of every running Workflow."""
    return sys.intern(str(value))


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def pydantic_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        parts.append(f"{where}: {error['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


@dataclass(frozen=True)
class ObjectRef:
    """Enough of an object to post Events about it and patch it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
        }


def ref_of(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(body["apiVersion"], body["kind"], meta.get("namespace", ""), meta["name"], meta.get("uid", ""))


@dataclass(frozen=True)
class ComponentEntry:
    ref: ObjectRef
    generation: int
    spec: ComponentSpec | None
    error: str | None
    status: ComponentStatus
    # the status as the API holds it, for routing's health facts (`logic.health.from_status`: `stats`, `breaker`)
    health: Mapping[str, Any] = field(default_factory=dict)


def component_entry(body: Mapping[str, Any]) -> ComponentEntry:
    spec: ComponentSpec | None = None
    error = None
    try:
        spec = ComponentSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        error = pydantic_message(exc)
    try:
        status = ComponentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = ComponentStatus()
    raw = body.get("status") or {}
    health = {key: raw[key] for key in ("stats", "breaker") if key in raw} if isinstance(raw, Mapping) else {}
    return ComponentEntry(ref_of(body), body["metadata"].get("generation", 0), spec, error, status, health)


@dataclass(frozen=True)
class RuleEntry:
    ref: ObjectRef
    generation: int
    rule: CompiledRule | None
    error: str | None
    status: RoutingRuleStatus
    labels: Mapping[str, str] = field(default_factory=dict)


def rule_entry(body: Mapping[str, Any]) -> RuleEntry:
    meta = body["metadata"]
    labels = dict(meta.get("labels") or {})
    try:
        status = RoutingRuleStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = RoutingRuleStatus()
    try:
        spec = RoutingRuleSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        return RuleEntry(ref_of(body), meta.get("generation", 0), None, pydantic_message(exc), status, labels)
    compiled = compile_rule(meta["name"], spec, labels)
    return RuleEntry(ref_of(body), meta.get("generation", 0), compiled, compiled.error, status, labels)


@dataclass(frozen=True, slots=True)  # one per Job and Pod in the informer's stores
class JobEntry:
    name: str
    workflow: str
    node: str
    attempt: int
    state: JobState
    finished_at: datetime | None
    reason: str
    owner_uid: str = ""  # the controlling owner's uid: whose Job this is
    created_at: datetime | None = None
    resource_version: str = ""
    component: str = ""  # its component label (what ran: a fallback's Job names the fallback), for slots

    def is_news(self, old: JobEntry | None) -> bool:
        """Whether this entry, replacing `old` (None: not seen before), is something a runner acts on: the Job
        finished, or it is now another's (a namesake). A Job the runner created, or going Active, is not."""
        if old is None:
            return self.state != "Active"
        return (self.state, self.reason, self.finished_at, self.owner_uid, self.node, self.attempt) != (
            old.state,
            old.reason,
            old.finished_at,
            old.owner_uid,
            old.node,
            old.attempt,
        )


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond  # type: ignore[no-any-return]
    return None


def job_entry(body: Mapping[str, Any]) -> JobEntry | None:
    meta = body["metadata"]
    labels = meta.get("labels") or {}
    workflow = (meta.get("annotations") or {}).get(ANNOTATION_WORKFLOW)
    if not workflow or LABEL_NODE not in labels:
        return None
    status = body.get("status") or {}
    state: JobState = "Active"
    reason = ""
    finished = None
    if (cond := _condition(status, "Complete")) is not None:
        state = "Succeeded"
        finished = parse_time(status.get("completionTime") or cond.get("lastTransitionTime"))
    elif (cond := _condition(status, "Failed")) is not None:
        state = "Failed"
        reason = str(cond.get("reason") or "JobFailed")
        finished = parse_time(cond.get("lastTransitionTime"))
    attempt = str(labels.get(LABEL_ATTEMPT, "0"))
    return JobEntry(
        meta["name"],
        shared(workflow),
        shared(node_of_key(labels[LABEL_NODE])),  # an instance's label is `NODE.i` (no brackets in labels)
        int(attempt) if attempt.isdigit() else -1,
        state,
        finished,
        shared(reason),
        owner_uid=shared(controller_uid(meta)),
        created_at=parse_time(meta.get("creationTimestamp")),
        resource_version=str(meta.get("resourceVersion") or ""),
        component=shared(str(labels.get(LABEL_COMPONENT, ""))),
    )


def controller_uid(meta: Mapping[str, Any]) -> str:
    """The uid of the object's controlling owner ('' when it has none)."""
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            return str(owner.get("uid") or "")
    return ""


@dataclass(frozen=True, slots=True)  # one per Job and Pod in the informer's stores
class PodEntry:
    job: str
    phase: str
    message: str | None
    exit_code: int | None
    reason: str
    waiting: str = ""  # the container's waiting reason, e.g. InvalidImageName
    waiting_message: str = ""
    unschedulable: str = ""  # the PodScheduled=False message, when the scheduler cannot place it
    workflow: str = ""  # the owning workflow (the Pod template's annotation)
    staging_failed: bool = False  # `message`/`exit_code` are stage-in's: it failed, the main container never ran
    sidecar_message: str | None = None  # stage-out's termination message when it exited non-zero
    disrupted: str = ""  # "reason: message" of a DisruptionTarget condition: evicted, preempted, drained...
    containers: int = 1  # how many share the Pod's termination-message budget (an injected sidecar is one)
    running_since: datetime | None = None  # when the main container started (its `startedAt`), if it did
    staging_active: bool = False  # stage-out (a native sidecar) has not ended: it uploads once main has exited
    finished_at: datetime | None = None  # when the main container ended (its terminated `finishedAt`), if it did

    @property
    def ran_seconds(self) -> float | None:
        """The main container's run time (startedAt to finishedAt): not the Pod's scheduling or image pull."""
        if self.running_since is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.running_since).total_seconds())

    def is_news(self, old: PodEntry | None) -> bool:
        """Whether this entry, replacing `old` (None: not seen before), is something a runner acts on: the
        container terminated (message, exit code, reason), or why the Pod cannot start. A Pod created, scheduled
        or running is not: a pending timeout is the runner's own timer."""
        return self._news() != (old._news() if old is not None else _QUIET_POD)

    def _news(self) -> tuple[Any, ...]:
        return (
            self.message,
            self.exit_code,
            self.reason,
            self.waiting,
            self.waiting_message,
            self.unschedulable,
            self.disrupted,
        )

    @property
    def started(self) -> bool:
        """The container ran (or is running): the Pod is past anything a pending timeout guards."""
        return self.phase in ("Running", "Succeeded", "Failed")

    @property
    def stuck(self) -> bool:
        """The container can never start: retrying the same Pod will not help (a new attempt might)."""
        return self.waiting in STUCK_REASONS


_QUIET_POD: tuple[Any, ...] = (None, None, "", "", "", "", "")  # `PodEntry._news` of a Pod not seen before


def pod_entry(body: Mapping[str, Any]) -> PodEntry | None:
    meta = body["metadata"]
    labels = meta.get("labels") or {}
    job = next((labels[k] for k in JOB_NAME_LABELS if k in labels), None)
    if job is None:
        return None
    status = body.get("status") or {}
    message, exit_code, reason, waiting, waiting_message = None, None, "", "", ""
    running_since = finished_at = None
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") != "main":
            continue
        state = cs.get("state") or {}
        running_since = parse_time((state.get("running") or state.get("terminated") or {}).get("startedAt"))
        if terminated := state.get("terminated"):
            message = terminated.get("message") or ""
            exit_code = terminated.get("exitCode")
            reason = terminated.get("reason") or ""
            finished_at = parse_time(terminated.get("finishedAt"))
        if waiting_state := state.get("waiting"):
            waiting = waiting_state.get("reason") or ""
            waiting_message = waiting_state.get("message") or ""
    staging_failed, sidecar_message, staging_active = False, None, False
    for cs in status.get("initContainerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == STAGE_OUT and not terminated:
            staging_active = True
        if not terminated or not terminated.get("exitCode"):
            continue
        if cs.get("name") == STAGE_IN and message is None:
            message = terminated.get("message") or ""
            exit_code = terminated.get("exitCode")
            reason = terminated.get("reason") or "Error"
            staging_failed = True
        elif cs.get("name") == STAGE_OUT:
            sidecar_message = terminated.get("message") or ""
    unschedulable = disrupted = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            unschedulable = f"{cond.get('reason') or 'Unschedulable'}: {cond.get('message') or ''}".rstrip(": ")
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            disrupted = f"{cond.get('reason') or 'DisruptionTarget'}: {cond.get('message') or ''}".rstrip(": ")
    workflow = shared((meta.get("annotations") or {}).get(ANNOTATION_WORKFLOW) or "")
    phase, reason, waiting = shared(status.get("phase", "")), shared(reason), shared(waiting)
    containers = max(1, len(status.get("containerStatuses") or []))
    return PodEntry(
        job,
        phase,
        message,
        exit_code,
        reason,
        waiting,
        waiting_message,
        unschedulable,
        workflow,
        staging_failed,
        sidecar_message,
        disrupted,
        containers,
        running_since,
        staging_active,
        finished_at,
    )
