"""Triggers at run time, the front: accept events (one Workflow each, or appended to a persisted pending
batch), reconcile Trigger objects, keep per-Trigger statistics and write them to status.

Persistence before acknowledgement: a single event's Workflow (named by the event's source + id) or its
pending-batch ConfigMap key (`batches.py`) exists before `ingest` returns. One lock per Trigger serializes
writers in-process (one active operator). Counters are kept in memory and written to status by `flush`
(best effort across a crash: up to one flush interval of counts may be lost; Workflows and batches never
are). Workflow admission, counting and pruning are in `runs.py`; the per-Trigger state in `state.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.errors import not_found
from switchyard.k8s.triggers import batches, schedules
from switchyard.k8s.triggers.batches import Batches
from switchyard.k8s.triggers.clock import utcnow
from switchyard.k8s.triggers.runs import TriggerRuns, workflow_spec
from switchyard.k8s.triggers.schedules import Schedules
from switchyard.k8s.triggers.state import Key, Stats, TriggerEntry, TriggerState, trigger_entry, trigger_of
from switchyard.logic import triggers as logic
from switchyard.logic.conditions import set_condition, truncate
from switchyard.logic.triggerargs import event_arguments
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.common import MAX_MESSAGE
from switchyard.models.crd import API_VERSION, GROUP, VERSION
from switchyard.models.labels import ANNOTATION_EVENT
from switchyard.models.trigger import TriggerSpec

FLUSH_SECONDS = 0.5
WARNING_INTERVAL_SECONDS = 30.0
# Refusals that are the Trigger's own fault, not the sender's: an argument that cannot be evaluated over the
# event, a template the API refuses. Each is also a Warning Event on the Trigger (rate-limited by `warn`),
# as a batch's are; a sender's bad event (400, 413) or a concurrency refusal (409, 429) is only answered.
TRIGGER_FAULTS = frozenset({"ArgumentError", "WorkflowInvalid"})
log = logging.getLogger("switchyard.triggers")


@dataclass(frozen=True)
class Outcome:
    """The answer to one event: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class TriggerEngine:
    """The in-process state of every Trigger (rebuilt from the cluster after a restart)."""

    def __init__(self, api: Api, clock: Callable[[], datetime] = utcnow) -> None:
        self.api = api
        self.clock = clock
        self.states: dict[Key, TriggerState] = {}
        self.wake = asyncio.Event()
        self.runs = TriggerRuns(api)
        self.batches = Batches(api, self.runs, clock, self.wake, self.warn)
        self.schedules = Schedules(api, self.runs, clock, self.warn)
        self.warnings: set[asyncio.Task[None]] = set()  # Warning Events being posted (never awaited by ingest)

    def state(self, key: Key) -> TriggerState:
        """The Trigger's state, created empty on first sight (its Workflows may be seen before it)."""
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = TriggerState()
        return state

    # -- Trigger objects ------------------------------------------------------------------------------------

    def observe(self, body: Mapping[str, Any]) -> TriggerEntry:
        entry = trigger_entry(body)
        state = self.states.get(entry.key)
        if state is not None and state.entry is not None and state.entry.uid != entry.uid:
            state = None  # deleted and re-created: a new stream
        if state is None:
            state = self.states[entry.key] = TriggerState(stats=Stats.seeded(entry.status))
        elif state.entry is None:  # its Workflows came first (the two watches start together): add the status
            state.stats.seed(entry.status)
        state.entry = entry
        return entry

    def forget(self, namespace: str, name: str) -> None:
        self.states.pop((namespace, name), None)

    async def entry(self, namespace: str, name: str) -> TriggerEntry | None:
        """The cached Trigger, or read from the API (before the watch has delivered it)."""
        state = self.states.get((namespace, name))
        if state is not None and state.entry is not None:
            return state.entry
        try:
            body: Any = await self.api.call(
                self.api.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "triggers", name
            )
        except ApiException as exc:
            if not_found(exc):
                return None
            raise
        return self.observe(body)

    async def namespace_entries(self, namespace: str) -> list[TriggerEntry]:
        """Every Trigger of a namespace, listed from the API (the watch may not have delivered them yet)."""
        listing: Any = await self.api.call(
            self.api.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "triggers"
        )
        found = []
        for body in listing.get("items", []):
            state = self.states.get((namespace, body["metadata"]["name"]))
            cached = state.entry if state is not None else None
            same = (
                cached is not None
                and cached.uid == body["metadata"].get("uid")
                and cached.generation == int(body["metadata"].get("generation") or 0)
            )
            found.append(cached if same and cached is not None else self.observe(body))
        return found

    async def reconcile(self, entry: TriggerEntry) -> str | None:
        """Ready condition and observedGeneration; the problem (for a Warning Event) when not Ready."""
        ready = entry.ready
        if ready and entry.spec is not None and entry.spec.batch is not None and entry.spec.arguments:
            self.batches.warm()  # its batches' arguments are evaluated in a CEL worker
        accepts = "the trigger accepts events"
        if entry.spec is not None and entry.spec.schedule is not None:
            accepts = "the trigger runs on its schedule" + (" and accepts events" if entry.spec.event_types else "")
        message = accepts if ready else (entry.error or "invalid")
        reason = "Valid" if ready else entry.error_reason
        now = self.clock().replace(microsecond=0)
        status = entry.status
        conditions = set_condition(
            status.conditions, "Ready", "True" if ready else "False", reason, message, now, entry.generation
        )
        if conditions == status.conditions and status.observed_generation == entry.generation:
            return None
        patch = {"observedGeneration": entry.generation, "conditions": [c.to_wire() for c in conditions]}
        await self.api.patch_status("triggers", entry.namespace, entry.name, patch)
        status.conditions, status.observed_generation = conditions, entry.generation
        return None if ready else message

    # -- events ---------------------------------------------------------------------------------------------

    def record_rejection(self, entry: TriggerEntry, rejection: EventRejected) -> Outcome:
        stats = self.state(entry.key).stats
        stats.received += 1
        stats.rejected += 1
        stats.last_error = truncate(f"{rejection.reason}: {rejection.message}", MAX_MESSAGE)
        stats.dirty = True
        self.wake.set()
        headers = {"Retry-After": "1"} if rejection.status == 429 else {}
        return Outcome(
            rejection.status,
            {"trigger": entry.name, "reason": rejection.reason, "error": rejection.message},
            headers,
        )

    async def ingest(self, entry: TriggerEntry, event: EventFacts) -> Outcome:
        """Accept one event for one Trigger: persisted (Workflow or pending-batch key) before returning 202."""
        state = self.state(entry.key)
        try:
            if not entry.ready or entry.spec is None:
                raise EventRejected(409, "TriggerNotReady", f"trigger {entry.name} is not Ready: {entry.error}")
            logic.check_event(entry.spec, entry.filter, event)
            spec = entry.spec
            if spec.batch is None:
                body = await self._start_single(state, entry, spec, event)  # locked when a policy applies
            else:
                body = await self.batches.submit(state, entry, spec, spec.batch, event)  # group commit
        except EventRejected as rejection:
            if rejection.reason in TRIGGER_FAULTS:  # posted beside the answer: a 422 waits for no Event write
                message = f"event {event.id}: {rejection.message}"
                task = asyncio.ensure_future(self.warn(entry, rejection.reason, message))
                self.warnings.add(task)
                task.add_done_callback(self.warnings.discard)
            return self.record_rejection(entry, rejection)
        stats = state.stats
        stats.received += 1
        stats.accepted += 1
        stats.last_event_time = self.clock().replace(microsecond=0)
        stats.dirty = True
        self.wake.set()
        return Outcome(202, {"trigger": entry.name, **body})

    async def _start_single(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, event: EventFacts
    ) -> dict[str, Any]:
        data, content_type = logic.event_input(event)
        name = logic.workflow_name(entry.name, event)
        annotations = {ANNOTATION_EVENT: truncate(f"{event.source} {event.id}", MAX_MESSAGE)}
        arguments = event_arguments(spec.arguments, event)  # a WorkflowTemplate's, over the event
        wf_spec = workflow_spec(spec, data, content_type, arguments)
        created = await self.runs.start(state, entry, spec, name, wf_spec, annotations)
        return {"workflows": [name], "duplicate": not created}

    # -- batches --------------------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Seal the batches that are full or whose maxWaitSeconds passed (also right after a restart)."""
        now = self.clock()
        for key, state in list(self.states.items()):
            entry = state.entry
            if entry is None or entry.spec is None or entry.spec.batch is None or not entry.ready:
                continue
            try:
                async with state.lock:
                    await self.batches.sweep(state, entry, entry.spec, entry.spec.batch, now)
            except (ApiException, ApiTrouble) as exc:
                log.warning("trigger %s/%s: sealing a batch failed (will retry): %s", *key, exc)

    def next_deadline(self) -> datetime | None:
        deadlines = [due for state in self.states.values() if (due := batches.deadline(state)) is not None]
        deadlines += [due for state in self.states.values() if (due := schedules.deadline(state)) is not None]
        return min(deadlines) if deadlines else None

    # -- Workflows of Triggers ------------------------------------------------------------------------------

    async def observe_workflow(self, body: Mapping[str, Any], deleted: bool) -> None:
        meta = body.get("metadata") or {}
        trigger = trigger_of(meta)
        if not trigger:
            return
        state = self.state((meta.get("namespace", ""), trigger))
        self.wake.set()
        await self.runs.observe(state, body, deleted)

    # -- status ---------------------------------------------------------------------------------------------

    def status_patch(self, key: Key) -> dict[str, Any]:
        state = self.states[key]
        stats = state.stats
        return {
            "received": stats.received,
            "accepted": stats.accepted,
            "rejected": stats.rejected,
            "workflowsCreated": stats.workflows_created,
            "batchesPending": 1 if state.batch is not None else 0,
            "lastEventTime": stats.last_event_time.isoformat().replace("+00:00", "Z")
            if stats.last_event_time
            else None,
            "lastError": stats.last_error,
            "workflows": {"running": state.running(), "succeeded": stats.succeeded, "failed": stats.failed},
            "lastScheduleTime": schedules.wire(stats.last_schedule_time),
            "nextScheduleTime": schedules.wire(state.schedule_next),
        }

    async def flush(self) -> None:
        for key, state in list(self.states.items()):
            stats = state.stats
            if not stats.dirty or state.entry is None:
                continue
            stats.dirty = False
            try:
                await self.api.patch_status("triggers", *key, self.status_patch(key))
            except (ApiException, ApiTrouble) as exc:
                stats.dirty = True
                log.warning("trigger %s/%s: status not written (will retry): %s", *key, exc)

    async def run(self) -> None:
        """Seal due batches, start due schedule ticks and write statistics, waking early when something changed."""
        while True:
            deadline = self.next_deadline()
            timeout = FLUSH_SECONDS
            if deadline is not None:
                timeout = max(0.0, min(timeout, (deadline - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            try:
                await self.sweep()
                await self.schedules.run_due(self.states)
                await self.flush()
            except Exception:  # one bad round never stops the loop; the next one retries
                log.exception("trigger housekeeping failed; retrying")
            await asyncio.sleep(0.05)  # coalesce bursts of wake-ups into one flush

    async def warn(self, entry: TriggerEntry, reason: str, message: str) -> None:
        """A Warning Event on the Trigger, at most one per reason per WARNING_INTERVAL_SECONDS."""
        warned = self.state(entry.key).warned
        loop_time = asyncio.get_running_loop().time()
        if loop_time - warned.get(reason, -WARNING_INTERVAL_SECONDS) < WARNING_INTERVAL_SECONDS:
            return
        warned[reason] = loop_time
        now = self.clock()
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{entry.name}.", namespace=entry.namespace),
            involved_object=client.V1ObjectReference(
                api_version=API_VERSION, kind="Trigger", name=entry.name, namespace=entry.namespace, uid=entry.uid
            ),
            reason=reason,
            message=truncate(message, MAX_MESSAGE),
            type="Warning",
            count=1,
            first_timestamp=now,
            last_timestamp=now,
            source=client.V1EventSource(component="switchyard-ingest"),
        )
        try:
            await self.api.call(self.api.core.create_namespaced_event, entry.namespace, event)
        except (ApiException, ApiTrouble) as exc:
            log.warning("could not post a %s Event on trigger %s: %s", reason, entry.name, exc)
