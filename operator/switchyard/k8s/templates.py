"""WorkflowTemplates against the API: the spec a Workflow runs (its own, or a template's resolved once), and a
template's Ready condition. The rules themselves (arguments, substitution) are `switchyard.logic.templates`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchyard.k8s.client import Api
from switchyard.k8s.entries import pydantic_message
from switchyard.k8s.errors import not_found
from switchyard.logic import templates
from switchyard.logic.conditions import set_condition
from switchyard.logic.errors import InvalidSpec
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.template import WorkflowTemplateSpec, WorkflowTemplateStatus
from switchyard.models.workflow import NotifySpec, TemplateSnapshot, WorkflowObjectSpec, WorkflowSpec, WorkflowStatus

PLURAL = "workflowtemplates"
Emit = Callable[[Mapping[str, Any], str, str, str], None]


def own_spec(body: Mapping[str, Any]) -> WorkflowObjectSpec:
    try:
        return WorkflowObjectSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        raise InvalidSpec("InvalidSpec", pydantic_message(exc)) from exc


def checked_template(body: Mapping[str, Any]) -> WorkflowTemplateSpec:
    """The template's spec, checked as a Workflow's is; InvalidSpec with the problem's own reason."""
    try:
        spec = WorkflowTemplateSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        raise InvalidSpec("InvalidSpec", pydantic_message(exc)) from exc
    problem = templates.check_template(spec)
    if problem is not None:
        raise problem
    return spec


def template_spec(name: str, body: Mapping[str, Any]) -> WorkflowTemplateSpec:
    """The template a Workflow names; InvalidSpec `TemplateInvalid` naming it when it is not Ready."""
    try:
        return checked_template(body)
    except InvalidSpec as exc:
        raise InvalidSpec("TemplateInvalid", f"workflowtemplate {name} is invalid: {exc.message}") from exc


async def workflow_spec(api: Api, body: Mapping[str, Any], status: WorkflowStatus) -> WorkflowSpec:
    """The spec the Workflow runs. With a `workflowTemplateRef`: the snapshot in `status.template` once the run
    started (a restart never reads the template again), else the template read and resolved now, put into
    `status.template` for the start's status write to record."""
    own = own_spec(body)
    ref = own.workflow_template_ref
    if ref is None:
        return own
    if status.template is not None and status.phase != "Pending":
        return status.template.spec
    namespace = body["metadata"]["namespace"]
    try:
        found = await api.read_object(GROUP, VERSION, namespace, PLURAL, ref.name)
    except ApiException as exc:
        if not_found(exc):
            raise InvalidSpec("TemplateNotFound", f"workflowtemplate {ref.name} not found") from exc
        raise
    spec = template_spec(ref.name, found)
    values, resolved = templates.run_spec(ref.name, spec, own)
    status.template = TemplateSnapshot(
        name=ref.name, generation=(found.get("metadata") or {}).get("generation"), parameters=values, spec=resolved
    )
    return resolved


def notify_spec(body: Mapping[str, Any], status: WorkflowStatus) -> NotifySpec | None:
    """`notify` of the spec that ran (a template run's comes from its snapshot); None when unset or unreadable."""
    if status.template is not None:
        return status.template.spec.notify
    try:
        return own_spec(body).notify
    except InvalidSpec:
        return None


def params(status: WorkflowStatus) -> dict[str, str]:
    """The `params` CEL variable of a run: a template run's parameter values, else an empty map."""
    return dict(status.template.parameters) if status.template is not None else {}


def ttl_seconds(body: Mapping[str, Any], status: WorkflowStatus) -> int | None:
    """`ttlSecondsAfterFinished` of the spec that ran (a template run's comes from its snapshot)."""
    if status.template is not None:
        return status.template.spec.ttl_seconds_after_finished
    ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
    return None if ttl is None else int(ttl)


async def reconcile_template(api: Api, body: Mapping[str, Any], emit: Emit, now: datetime) -> None:
    """The template's Ready condition from its spec; a Warning Event when it turns not Ready."""
    meta = body["metadata"]
    generation = meta.get("generation")
    status = WorkflowTemplateStatus.model_validate(body.get("status") or {})
    try:
        spec = checked_template(body)
        ready, reason = True, "Valid"
        names = ", ".join(p.name for p in spec.parameters) or "none"
        message = f"the template is valid; parameters: {names}"
    except InvalidSpec as exc:
        ready, reason, message = False, exc.reason, exc.message
    conditions = set_condition(
        status.conditions, "Ready", "True" if ready else "False", reason, message, now, generation
    )
    if conditions == status.conditions and status.observed_generation == generation:
        return
    patch = {"conditions": [c.to_wire() for c in conditions], "observedGeneration": generation}
    await api.patch_status(PLURAL, meta["namespace"], meta["name"], patch)
    if not ready:
        emit(body, "Warning", reason, message)
