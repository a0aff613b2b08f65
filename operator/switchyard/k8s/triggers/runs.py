"""The Workflows of a Trigger, whatever started them: admission (concurrencyPolicy, maxRunning), creation
(owned, labelled, idempotent by name), counting the finished ones into the stream statistics, and pruning
the history beyond `historyLimit`. A source of Workflows (an event, a batch, a schedule tick) names its
Workflow deterministically and calls `start` (or, holding the lock already, `admit` + `create`).

Counting marks a Workflow first (annotation `switchyard.dev/counted`) and counts it second, so a crash in
between under-counts by one rather than counting twice; only counted Workflows are pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api
from switchyard.k8s.errors import api_message, conflict, not_found, rejected
from switchyard.k8s.triggers.state import TriggerEntry, TriggerState, WorkflowSeen
from switchyard.logic import triggers as logic
from switchyard.logic.triggers import EventRejected
from switchyard.models.crd import API_VERSION, GROUP, VERSION
from switchyard.models.labels import ANNOTATION_COUNTED, LABEL_TRIGGER
from switchyard.models.trigger import TriggerSpec


def workflow_spec(
    spec: TriggerSpec, data: str, content_type: str, arguments: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The spec of a Workflow the Trigger starts: its template (or a WorkflowTemplate with `arguments`) with
    this input, and the Trigger's `notify`."""
    # What the Trigger's author set, no more: defaults are the API server's to apply (and `routing`, which
    # has none, must not appear beside `nodes`).
    if spec.workflow_template is not None:
        wf_spec = spec.workflow_template.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    else:
        assert spec.workflow_template_ref is not None  # the model takes exactly one
        wf_spec = {"workflowTemplateRef": spec.workflow_template_ref.to_wire(), "arguments": dict(arguments or {})}
    wf_spec["input"] = {"data": data, "contentType": content_type}
    if spec.notify is not None:
        wf_spec["notify"] = spec.notify.to_wire()
    return wf_spec


def constrained(spec: TriggerSpec) -> bool:
    """Whether starting a Workflow must look at the running ones (anything but Allow without a cap)."""
    return spec.concurrency_policy != "Allow" or spec.max_running is not None


class TriggerRuns:
    """Start, count and prune the Workflows of Triggers."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.finish_order = 0  # counts Workflows seen finishing (WorkflowSeen.order)

    # -- starting -------------------------------------------------------------------------------------------

    async def running(self, entry: TriggerEntry) -> list[str]:
        """The Trigger's Workflows not finished and not being deleted, listed from the API."""
        listing: Any = await self.api.call(
            self.api.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            entry.namespace,
            "workflows",
            label_selector=f"{LABEL_TRIGGER}={logic.trigger_label(entry.name)}",
        )
        return [
            item["metadata"]["name"]
            for item in listing.get("items", [])
            if (item.get("status") or {}).get("phase", "Pending") not in logic.FINISHED_PHASES
            and not item["metadata"].get("deletionTimestamp")
        ]

    async def admit(self, entry: TriggerEntry, spec: TriggerSpec) -> None:
        """Apply concurrencyPolicy and maxRunning before a new Workflow (or a new batch) starts:
        EventRejected when Forbid or the cap refuses; the running ones deleted for Replace."""
        if not constrained(spec):
            return
        running = await self.running(entry)
        if logic.admit(spec.concurrency_policy, spec.max_running, len(running)) == "replace":
            await self.replace(entry, running)

    async def replace(self, entry: TriggerEntry, running: list[str] | None = None) -> None:
        """Delete the running Workflows (concurrencyPolicy Replace)."""
        for name in running if running is not None else await self.running(entry):
            await self.api.delete("workflows", entry.namespace, name)

    async def start(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, name: str, wf_spec: dict[str, Any],
        annotations: dict[str, str],
    ) -> bool:  # fmt: skip
        """Start one Workflow of the Trigger, whatever asked (an event, a schedule tick): admitted, then created;
        False when `name` exists already (a duplicate, never refused). Idempotent by name, so without a policy
        to apply no lock is needed; with one, admission and create run under the Trigger's lock."""
        if not constrained(spec):
            return await self.create(state, entry, name, wf_spec, annotations)
        async with state.lock:
            # a re-sent start is a duplicate, not a new start that Forbid or the cap would refuse
            if await self.api.exists("workflows", entry.namespace, name):
                return False
            await self.admit(entry, spec)
            return await self.create(state, entry, name, wf_spec, annotations)

    async def create(
        self, state: TriggerState, entry: TriggerEntry, name: str, wf_spec: dict[str, Any], annotations: dict[str, str]
    ) -> bool:
        """Create the Workflow; False when it already exists (the event was accepted before)."""
        body = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": {
                "name": name,
                "namespace": entry.namespace,
                "labels": {LABEL_TRIGGER: logic.trigger_label(entry.name)},
                "annotations": annotations,
                "ownerReferences": [entry.owner()],
            },
            "spec": wf_spec,
        }
        try:
            await self.api.call(
                self.api.custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                entry.namespace,
                "workflows",
                body,
                retry_conflicts=False,
            )
        except ApiException as exc:
            if conflict(exc):
                return False
            if rejected(exc):
                raise EventRejected(422, "WorkflowInvalid", f"the Workflow was refused: {api_message(exc)}") from exc
            raise
        state.stats.workflows_created += 1
        return True

    # -- counting and pruning -------------------------------------------------------------------------------

    async def observe(self, state: TriggerState, body: Mapping[str, Any], deleted: bool) -> None:
        """A watch event of one of the Trigger's Workflows: count it once finished, then prune the history."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        seen = state.workflows
        stats = state.stats
        stats.dirty = True
        if deleted:
            seen.pop(name, None)
            return
        status = body.get("status") or {}
        phase = status.get("phase", "Pending")
        finished_at = str(status.get("finishedAt") or meta.get("creationTimestamp") or "")
        counted = (meta.get("annotations") or {}).get(ANNOTATION_COUNTED) is not None
        previous = seen.get(name)
        seen[name] = WorkflowSeen(phase, finished_at, counted or (previous is not None and previous.counted))
        if not seen[name].finished:
            return
        if previous is not None and previous.finished:
            seen[name].order = previous.order
        else:
            self.finish_order += 1
            seen[name].order = self.finish_order
        if not seen[name].counted:
            await self._count(state, namespace, name, phase)
        entry = state.entry
        if entry is not None and entry.spec is not None:
            await self.prune(state, namespace, entry.spec.history_limit)

    async def _count(self, state: TriggerState, namespace: str, name: str, phase: str) -> None:
        # Mark first, count second: a crash in between under-counts by one rather than counting twice.
        patch = {"metadata": {"annotations": {ANNOTATION_COUNTED: phase}}}
        try:
            await self.api.call(
                self.api.custom.patch_namespaced_custom_object, GROUP, VERSION, namespace, "workflows", name, patch
            )
        except ApiException as exc:
            if not not_found(exc):  # deleted meanwhile (its ttl): nobody else will count it
                raise
        if phase == "Succeeded":
            state.stats.succeeded += 1
        else:
            state.stats.failed += 1
        if name in state.workflows:
            state.workflows[name].counted = True

    async def prune(self, state: TriggerState, namespace: str, history_limit: int) -> None:
        """Delete the oldest finished Workflows beyond `history_limit`. Only counted ones: a Workflow deleted
        before its count would be lost from the statistics."""
        seen = state.workflows
        finished = [(n, w.finished_at, w.order) for n, w in seen.items() if w.finished and w.counted]
        for old in logic.history_to_delete(finished, history_limit):
            seen.pop(old, None)
            await self.api.delete("workflows", namespace, old)
