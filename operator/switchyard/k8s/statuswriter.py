"""The one writer of a Workflow's status: phase transitions, per-node progress, conditions and Events.

Every string it writes is cut to the schema's bound (`fit_text`, and the status models' own serializer), so a
long message can never turn a status write into a 422 that repeats forever.

Node progress is written at most once per interval: the first change after a quiet spell at once, later ones
gathered into the next write (the runner wakes for it), and whatever is still pending goes with the final
phase. Each write is one API request, one watch event for every watcher of the Workflow, and a rewrite of the
whole object in etcd, so the interval grows with the object (`logic.limits.progress_interval`: at least
`PROGRESS_INTERVAL`, and the object's size over `WRITE_BUDGET_BYTES_PER_SECOND`); the size is the spec and
metadata as read plus twice the node statuses written (their managedFields name each field again).
Losing a gathered change in a crash loses nothing:
Jobs, not status, are the record of what ran, and a restarted runner adopts and observes them again.

A write etcd refuses as too large (500 `etcdserver: request is too large`) is not retried: `ObjectTooLarge`
is raised, and `too_large` ends the Workflow `Failed` (reason `TooLarge`) with a status small enough to store.

`before_write` runs before every status write: the runner persists the outputs it holds then, so a node that
the status calls done always has its output in the outputs ConfigMap.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s.client import Api
from switchyard.k8s.errors import api_message, is_too_large
from switchyard.logic.conditions import set_condition
from switchyard.logic.features import satisfies_dependents
from switchyard.logic.limits import json_size, progress_interval
from switchyard.logic.nodestate import NodeState
from switchyard.logic.scheduler import Plan, WorkflowRun
from switchyard.models.common import Condition, fit_text
from switchyard.models.workflow import NodeStatus, RouteStatus, WorkflowStatus

Emit = Callable[[Mapping[str, Any], str, str, str], None]
PROGRESS_INTERVAL = 1.0  # seconds between two node-progress writes of a small Workflow (larger: longer)


class ObjectTooLarge(Exception):
    """etcd refused a status write: the Workflow's object would be over its request limit."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def message_field(text: str) -> str:
    return fit_text(WorkflowStatus, "message", text)


class StatusWriter:
    def __init__(
        self,
        api: Api,
        body: Mapping[str, Any],
        status: WorkflowStatus,
        emit: Emit,
        before_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.api = api
        self.before_write = before_write
        self.body = body
        self.status = status
        self.emit = emit
        meta = body["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta["namespace"]
        self.generation: int = meta.get("generation", 1)
        self.pending: set[str] = set()  # nodes whose progress is not written yet
        self.written_at = float("-inf")  # the last write (monotonic)
        self.base_bytes = json_size({k: v for k, v in body.items() if k != "status"})  # spec + metadata as read
        self.node_bytes: dict[str, int] = {}  # each node's status as last written (name + value)
        self.status_bytes = 0  # their sum

    def object_bytes(self) -> int:
        """The object's size as etcd stores it, estimated: spec and metadata (managedFields included) as read,
        plus the node statuses written, twice (values, and their field names in the writer's managedFields)."""
        return self.base_bytes + 2 * self.status_bytes

    def interval(self) -> float:
        return max(PROGRESS_INTERVAL, progress_interval(self.object_bytes()))

    async def patch(self, patch: dict[str, Any]) -> None:
        if self.before_write is not None:
            await self.before_write()
        try:
            await self.api.patch_status("workflows", self.namespace, self.name, patch, missing_ok=False)
        except ApiException as exc:
            if is_too_large(exc):
                raise ObjectTooLarge(api_message(exc)) from exc
            raise
        self.written_at = time.monotonic()
        nodes = patch.get("nodes")
        if isinstance(nodes, dict):
            for node, wire in nodes.items():
                size = json_size(node) + json_size(wire)
                self.status_bytes += size - self.node_bytes.get(node, 0)
                self.node_bytes[node] = size

    def event(self, type_: str, reason: str, message: str) -> None:
        self.emit(self.body, type_, reason, message)

    def started_patch(
        self, run: WorkflowRun, route: RouteStatus, outputs: list[str], now: datetime, reused: set[str] | None = None
    ) -> dict[str, Any]:
        """The status of a Workflow that starts running (`started` records it once written)."""
        conds = set_condition(
            self.status.conditions, "Valid", "True", "Valid", "the spec is valid", now, self.generation
        )
        conds = set_condition(
            conds, "Routed", "True", route.source, route.reason or route.summary, now, self.generation
        )
        patch: dict[str, Any] = {
            "phase": "Running",
            "startedAt": iso(now),
            "observedGeneration": self.generation,
            "route": route.to_wire(),
            "progress": run.progress,
            "outputs": outputs,
            "conditions": [c.to_wire() for c in conds],
            "message": None,
        }
        if self.status.template is not None:  # the WorkflowTemplate's spec as resolved: the run's from now on
            patch["template"] = self.status.template.to_wire()
        if not run.compact():
            patch["nodes"] = {n: run.node_wire(n) for n in run.dag.order}
        elif reused:
            patch["nodes"] = {n: run.node_wire(n) for n in sorted(reused) if n in run.nodes}
        # reused forEach instances (`k8s.reuse`) are not nodes of the run until it expands: recorded as read
        instances = {n: recorded_wire(run.recorded[n]) for n in sorted(reused or ()) if n not in run.nodes}
        if instances:
            patch["nodes"] = {**patch.get("nodes", {}), **instances}
        return patch

    async def started(self, patch: dict[str, Any]) -> None:
        """Write a `started_patch` and take it as this writer's view of the status."""
        await self.patch(patch)
        self.status.route = RouteStatus.model_validate(patch["route"])
        self.status.started_at = datetime.fromisoformat(patch["startedAt"].replace("Z", "+00:00"))
        self.status.phase = "Running"
        self.status.observed_generation = self.generation
        self.status.outputs = list(patch["outputs"])
        self.status.conditions = [Condition.model_validate(c) for c in patch["conditions"]]
        self.status.message = None

    async def invalid(self, reason: str, message: str) -> None:
        now = utcnow()
        message = message_field(message)
        conds = set_condition(self.status.conditions, "Valid", "False", reason, message, now, self.generation)
        conds = set_condition(conds, "Failed", "True", "Invalid", message, now, self.generation)
        self.status.phase = "Invalid"
        self.status.finished_at = now
        self.status.conditions = conds
        await self.patch(
            {
                "phase": "Invalid",
                "message": message,
                "observedGeneration": self.generation,
                "finishedAt": iso(now),
                "conditions": [c.to_wire() for c in conds],
            }
        )
        self.event("Warning", reason, message)
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, "Invalid")

    async def too_large(self, problem: str) -> None:
        """End the Workflow Failed because etcd refused its status (`problem`): the per-node map goes, so this
        last write is small enough to store; the Jobs, not the status, record what ran."""
        now = utcnow()
        message = message_field(
            f"the Workflow's object is over etcd's request limit ({problem}): its status cannot be stored; "
            "fewer nodes, shorter names or a smaller inline input fit"
        )
        conds = set_condition(self.status.conditions, "Failed", "True", "TooLarge", message, now, self.generation)
        self.status.phase = "Failed"
        self.status.finished_at = now
        self.status.conditions = conds
        self.pending = set()
        await self.patch(
            {
                "phase": "Failed",
                "message": message,
                "finishedAt": iso(now),
                "nodes": None,
                "conditions": [c.to_wire() for c in conds],
            }
        )
        self.event("Warning", "TooLarge", message)
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, "Failed")

    async def waiting(self, message: str) -> None:
        """Not started yet, for a reason that passes (e.g. a deleted namesake's ConfigMap not yet collected)."""
        await self.patch({"phase": "Pending", "message": message_field(message)})

    async def progress(self, run: WorkflowRun, plan: Plan) -> datetime | None:
        """Write the nodes `plan` changed, now or (None returned) by the time returned: wake up for it then."""
        self.pending |= plan.changed
        if not self.pending:
            return None
        wait = self.written_at + self.interval() - time.monotonic()
        if wait > 0:
            return datetime.now(UTC) + timedelta(seconds=wait)
        await self.patch(self.progress_patch(run))
        return None

    def progress_patch(self, run: WorkflowRun) -> dict[str, Any]:
        """The pending nodes and the progress count (the pending set is then empty)."""
        nodes = {n: run.node_wire(n) for n in sorted(self.pending)}
        self.pending = set()
        return {"nodes": nodes, "progress": run.progress}

    async def finished(self, run: WorkflowRun, stop_message: str | None = None) -> None:
        now = utcnow()
        failed = sorted(n for n, s in run.nodes.items() if s.phase == "Failed" and n not in run.parent_of)
        gen = self.status.observed_generation or self.generation
        if run.succeeded:
            phase, type_, reason = "Succeeded", "Complete", "Succeeded"
            fell = sum(1 for s in run.nodes.values() if s.phase == "FellBack")
            skipped = sum(1 for s in run.nodes.values() if s.phase == "Skipped")  # only by their `when` here
            message = f"all {run.total} nodes succeeded" + (f" ({fell} fell back)" if fell else "")
            if shortfalls := run.shortfalls():  # minSuccessRatio < 1 held, but not every instance succeeded
                ok = sum(1 for s in run.nodes.values() if satisfies_dependents(s))
                message = f"{'; '.join(shortfalls)}; {ok} of {run.total} nodes (instances included) succeeded"
                message += (f", {skipped} skipped (when false)" if skipped else "") + (
                    f", {fell} fell back" if fell else ""
                )
            elif skipped:
                message = f"all {run.total} nodes done: {run.total - skipped} succeeded, {skipped} skipped (when false)"
                message += f", {fell} fell back" if fell else ""
        else:
            phase, type_ = "Failed", "Failed"
            reason = run.failed_reason or "NodeFailed"
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            if reason == "DeadlineExceeded":
                message = "the workflow's activeDeadlineSeconds passed"
            elif reason == "Stopped":
                message = f"stopped: {stop_message or 'on request'}"
            elif failed and all(node in run.exit_nodes for node in failed):
                message = f"the DAG succeeded but {len(failed)} exit node(s) failed: {shown}"
            else:
                message = f"{len(failed)} node(s) failed: {shown}"
        message = message_field(message)
        conds = set_condition(self.status.conditions, type_, "True", reason, message, now, gen)
        self.status.conditions = conds
        self.status.phase = phase  # type: ignore[assignment]
        self.status.finished_at = now
        await self.patch(
            {
                **self.progress_patch(run),
                "phase": phase,
                "finishedAt": iso(now),
                "message": message,
                "conditions": [c.to_wire() for c in conds],
            }
        )
        self.event("Normal" if phase == "Succeeded" else "Warning", phase if reason != "Stopped" else reason, message)
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, phase)


def recorded_wire(status: NodeStatus) -> dict[str, Any]:
    """A node status read (not a node of the run yet) as written: its fields that are set, nothing else."""
    return {key: value for key, value in NodeState.of(status).wire().items() if value is not None}
