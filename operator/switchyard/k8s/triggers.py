"""Triggers at run time: accept events (one Workflow each, or appended to a persisted pending batch), seal
batches by count or time, keep per-Trigger statistics, count finished Workflows and prune history.

Persistence before acknowledgement: a single event's Workflow (named by the event's source + id) or its
pending-batch ConfigMap key exists before `ingest` returns. A batch is sealed by creating its Workflow (a
deterministic name) FIRST and deleting the ConfigMap after, so a crash in between neither loses nor doubles:
a pending batch whose Workflow exists is only deleted. One lock per Trigger serializes writers in-process
(one active operator). Counters are kept in memory and written to status by `flush` (best effort across
a crash: up to one flush interval of counts may be lost; Workflows and batches never are).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.observe import parse_time, pydantic_message
from switchyard.logic import triggers as logic
from switchyard.logic.conditions import set_condition, truncate
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.common import MAX_INPUT_BYTES, MAX_MESSAGE
from switchyard.models.crd import API_VERSION, GROUP, VERSION
from switchyard.models.labels import (
    ANNOTATION_BATCH,
    ANNOTATION_COUNTED,
    ANNOTATION_EVENT,
    ANNOTATION_OPENED,
    LABEL_BATCH,
    LABEL_TRIGGER,
)
from switchyard.models.trigger import TriggerSpec, TriggerStatus

FLUSH_SECONDS = 0.5
SEALED_REMEMBERED = 10_000  # event keys of sealed batches remembered per Trigger (re-sent events are duplicates)
WARNING_INTERVAL_SECONDS = 30.0
log = logging.getLogger("switchyard.triggers")

Key = tuple[str, str]  # (namespace, trigger)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TriggerEntry:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: TriggerSpec | None
    error: str | None
    filter: logic.CompiledFilter
    status: TriggerStatus

    @property
    def ready(self) -> bool:
        return self.spec is not None and self.error is None

    def owner(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "Trigger",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def trigger_of(meta: Mapping[str, Any]) -> str | None:
    """The Trigger of one of its Workflows: its controlling owner's name (the label may be a cut name)."""
    if not (meta.get("labels") or {}).get(LABEL_TRIGGER):
        return None
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "Trigger" and owner.get("controller"):
            return str(owner.get("name") or "") or None
    return None


def trigger_entry(body: Mapping[str, Any]) -> TriggerEntry:
    meta = body.get("metadata") or {}
    spec: TriggerSpec | None = None
    error: str | None = None
    compiled = logic.compile_filter(None)
    try:
        spec = TriggerSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        error = f"invalid spec: {pydantic_message(exc)}"
    if spec is not None:
        compiled = logic.compile_filter(spec.filter)
        error = compiled.error
    try:
        status = TriggerStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = TriggerStatus()
    return TriggerEntry(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        spec=spec,
        error=error,
        filter=compiled,
        status=status,
    )


@dataclass
class Stats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    workflows_created: int = 0
    succeeded: int = 0
    failed: int = 0
    last_event_time: datetime | None = None
    last_error: str | None = None
    dirty: bool = False

    @classmethod
    def seeded(cls, status: TriggerStatus) -> Stats:
        return cls(
            received=status.received,
            accepted=status.accepted,
            rejected=status.rejected,
            workflows_created=status.workflows_created,
            succeeded=status.workflows.succeeded,
            failed=status.workflows.failed,
            last_event_time=status.last_event_time,
            last_error=status.last_error,
        )


@dataclass
class Batch:
    """The open batch of a Trigger: its ConfigMap and items (key -> JSON value) in arrival order."""

    name: str
    opened_at: datetime
    items: dict[str, str] = field(default_factory=dict)

    def has_event(self, event: EventFacts) -> bool:
        wanted = logic.event_key(event)
        return any(logic.key_event(key) == wanted for key in self.items)

    def size_with(self, item: str) -> int:
        return logic.batch_input_size([len(v.encode()) for v in self.items.values()] + [len(item.encode())])


@dataclass(frozen=True)
class Outcome:
    """The answer to one event: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class WorkflowSeen:
    phase: str
    finished_at: str
    counted: bool = False  # in the stream statistics already (only counted ones are pruned)
    order: int = 0  # when this process first saw it finished: breaks ties within finishedAt's second


class TriggerEngine:
    """The in-process state of every Trigger (rebuilt from the cluster after a restart)."""

    def __init__(self, api: Api, clock: Callable[[], datetime] = utcnow) -> None:
        self.api = api
        self.clock = clock
        self.entries: dict[Key, TriggerEntry] = {}
        self.stats: dict[Key, Stats] = {}
        self.batches: dict[Key, Batch] = {}
        self.loaded: set[Key] = set()
        self.locks: dict[Key, asyncio.Lock] = {}
        self.workflows: dict[Key, dict[str, WorkflowSeen]] = {}
        self.warned: dict[tuple[Key, str], float] = {}
        self.sealed: dict[Key, dict[str, str]] = {}  # event key -> the Workflow its batch became (bounded, FIFO)
        self.wake = asyncio.Event()
        self.finish_order = 0  # counts Workflows seen finishing (WorkflowSeen.order)

    # -- Trigger objects ------------------------------------------------------------------------------------

    def observe(self, body: Mapping[str, Any]) -> TriggerEntry:
        entry = trigger_entry(body)
        key = (entry.namespace, entry.name)
        old = self.entries.get(key)
        if old is not None and old.uid != entry.uid:  # deleted and re-created: a new stream
            self.forget(*key)
        self.entries[key] = entry
        self.stats.setdefault(key, Stats.seeded(entry.status))
        return entry

    def forget(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        for table in (self.entries, self.stats, self.batches, self.workflows, self.sealed):
            table.pop(key, None)
        self.loaded.discard(key)

    async def entry(self, namespace: str, name: str) -> TriggerEntry | None:
        """The cached Trigger, or read from the API (before the watch has delivered it)."""
        cached = self.entries.get((namespace, name))
        if cached is not None:
            return cached
        try:
            body: Any = await self.api.call(
                self.api.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "triggers", name
            )
        except ApiException as exc:
            if exc.status == 404:
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
            key = (namespace, body["metadata"]["name"])
            cached = self.entries.get(key)
            fresh = cached is not None and cached.uid == body["metadata"].get("uid")
            same = fresh and cached is not None and cached.generation == int(body["metadata"].get("generation") or 0)
            found.append(cached if same and cached is not None else self.observe(body))
        return found

    async def reconcile(self, entry: TriggerEntry) -> str | None:
        """Ready condition and observedGeneration; the problem (for a Warning Event) when not Ready."""
        ready = entry.ready
        message = "the trigger accepts events" if ready else (entry.error or "invalid")
        reason = "Valid" if ready else ("InvalidFilter" if entry.spec is not None else "InvalidSpec")
        now = self.clock().replace(microsecond=0)
        status = entry.status
        conditions = set_condition(
            status.conditions, "Ready", "True" if ready else "False", reason, message, now, entry.generation
        )
        if conditions == status.conditions and status.observed_generation == entry.generation:
            return None
        patch = {"observedGeneration": entry.generation, "conditions": [c.to_wire() for c in conditions]}
        await self._patch_status(entry.namespace, entry.name, patch)
        status.conditions, status.observed_generation = conditions, entry.generation
        return None if ready else message

    def lock(self, key: Key) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    # -- events ---------------------------------------------------------------------------------------------

    def record_rejection(self, entry: TriggerEntry, rejection: EventRejected) -> Outcome:
        key = (entry.namespace, entry.name)
        stats = self.stats.setdefault(key, Stats())
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
        key = (entry.namespace, entry.name)
        try:
            if not entry.ready or entry.spec is None:
                raise EventRejected(409, "TriggerNotReady", f"trigger {entry.name} is not Ready: {entry.error}")
            logic.check_event(entry.spec, entry.filter, event)
            spec = entry.spec
            if spec.batch is None and spec.concurrency_policy == "Allow" and spec.max_running is None:
                # nothing to decide against other events: the create is idempotent by name, no lock needed
                body = await self._start_single(entry, spec, event)
            else:
                async with self.lock(key):
                    if spec.batch is None:
                        body = await self._start_single(entry, spec, event)
                    else:
                        body = await self._append(entry, spec, event)
        except EventRejected as rejection:
            return self.record_rejection(entry, rejection)
        stats = self.stats.setdefault(key, Stats())
        stats.received += 1
        stats.accepted += 1
        stats.last_event_time = self.clock().replace(microsecond=0)
        stats.dirty = True
        self.wake.set()
        return Outcome(202, {"trigger": entry.name, **body})

    async def _running(self, entry: TriggerEntry) -> list[str]:
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

    async def _admit(self, entry: TriggerEntry, spec: TriggerSpec) -> None:
        """Apply concurrencyPolicy and maxRunning before a new Workflow (or a new batch) starts."""
        if spec.concurrency_policy == "Allow" and spec.max_running is None:
            return
        running = await self._running(entry)
        if logic.admit(spec.concurrency_policy, spec.max_running, len(running)) == "replace":
            for name in running:
                await self._delete("workflows", entry.namespace, name)

    async def _create_workflow(
        self,
        entry: TriggerEntry,
        spec: TriggerSpec,
        name: str,
        data: str,
        content_type: str,
        annotations: dict[str, str],
    ) -> bool:
        """Create the Workflow; False when it already exists (the event was accepted before)."""
        # What the Trigger's author set, no more: defaults are the API server's to apply (and `routing`, which
        # has none, must not appear beside `nodes`).
        wf_spec = spec.workflow_template.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
        wf_spec["input"] = {"data": data, "contentType": content_type}
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
            if exc.status == 409:
                return False
            if exc.status in (400, 422):
                raise EventRejected(422, "WorkflowInvalid", f"the Workflow was refused: {_api_message(exc)}") from exc
            raise
        self.stats.setdefault((entry.namespace, entry.name), Stats()).workflows_created += 1
        return True

    async def _start_single(self, entry: TriggerEntry, spec: TriggerSpec, event: EventFacts) -> dict[str, Any]:
        data, content_type = logic.event_input(event)
        name = logic.workflow_name(entry.name, event)
        if spec.concurrency_policy != "Allow" or spec.max_running is not None:
            # a re-sent event is a duplicate, not a new start that Forbid or the cap would refuse
            if await self._exists("workflows", entry.namespace, name):
                return {"workflows": [name], "duplicate": True}
            await self._admit(entry, spec)
        annotation = truncate(f"{event.source} {event.id}", MAX_MESSAGE)
        created = await self._create_workflow(entry, spec, name, data, content_type, {ANNOTATION_EVENT: annotation})
        return {"workflows": [name], "duplicate": not created}

    # -- batches --------------------------------------------------------------------------------------------

    async def _append(self, entry: TriggerEntry, spec: TriggerSpec, event: EventFacts) -> dict[str, Any]:
        assert spec.batch is not None
        key = (entry.namespace, entry.name)
        await self._load_batches(entry, spec)
        item = logic.batch_item(event)
        logic.check_size(logic.batch_input_size([len(item.encode())]))
        batch = self.batches.get(key)
        if batch is not None and batch.has_event(event):
            return {"batch": batch.name, "position": _position(batch, event), "duplicate": True}
        sealed_into = self.sealed.get(key, {}).get(logic.event_key(event))
        if sealed_into is not None:
            return {"workflows": [sealed_into], "duplicate": True}
        sealed: list[str] = []
        if batch is not None and (len(batch.items) >= spec.batch.max_items or batch.size_with(item) > MAX_INPUT_BYTES):
            sealed.append(await self._seal(entry, spec, batch))
            batch = None
        if batch is None:
            # A batch is named by its first event: if that name was sealed already, this event is a re-sent
            # first event of a finished batch (opening it again would collide with its Workflow's name).
            first_of = logic.batch_workflow_name(entry.name, logic.batch_name(entry.name, event))
            if await self._exists("workflows", entry.namespace, first_of):
                return {"workflows": [first_of], "duplicate": True}
            await self._admit(entry, spec)
            batch = await self._open(entry, event, item)
        else:
            item_key = logic.item_key(len(batch.items), event)
            await self._patch_configmap(entry.namespace, batch.name, {"data": {item_key: item}})
            batch.items[item_key] = item
        position = len(batch.items)
        if position >= spec.batch.max_items:
            with contextlib.suppress(ApiTrouble):  # persisted already; the sweeper seals it later
                sealed.append(await self._seal(entry, spec, batch))
        return {"batch": batch.name, "position": position, "workflows": sealed}

    async def _open(self, entry: TriggerEntry, first: EventFacts, item: str) -> Batch:
        name = logic.batch_name(entry.name, first)
        opened_at = self.clock()
        item_key = logic.item_key(0, first)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {LABEL_TRIGGER: logic.trigger_label(entry.name), LABEL_BATCH: "pending"},
                "annotations": {ANNOTATION_OPENED: opened_at.isoformat()},
                "ownerReferences": [entry.owner()],
            },
            "data": {item_key: item},
        }
        try:
            await self.api.call(
                self.api.core.create_namespaced_config_map, entry.namespace, body, retry_conflicts=False
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            # The first event was sent again after a crash that left its batch behind: adopt that batch.
            existing = await self.api.call(self.api.core.read_namespaced_config_map, name, entry.namespace)
            batch = _batch_from(existing)
            if batch is None:
                raise ApiTrouble(f"pending batch {name} cannot be read") from exc
            if await self._exists("workflows", entry.namespace, logic.batch_workflow_name(entry.name, name)):
                await self._delete("configmaps", entry.namespace, name)  # sealed before the crash
                raise ApiTrouble(f"batch {name} was sealed; retry") from exc
            self.batches[(entry.namespace, entry.name)] = batch
            return batch
        batch = Batch(name=name, opened_at=opened_at, items={item_key: item})
        self.batches[(entry.namespace, entry.name)] = batch
        return batch

    async def _seal(self, entry: TriggerEntry, spec: TriggerSpec, batch: Batch) -> str:
        """Workflow first, then delete the pending ConfigMap (see the module docstring)."""
        name = logic.batch_workflow_name(entry.name, batch.name)
        if spec.concurrency_policy == "Replace":
            for running in await self._running(entry):
                await self._delete("workflows", entry.namespace, running)
        data = logic.batch_input([batch.items[k] for k in sorted(batch.items)])
        annotations = {ANNOTATION_BATCH: batch.name}
        try:
            await self._create_workflow(entry, spec, name, data, logic.JSON, annotations)
        except EventRejected as rejection:  # the template itself is refused: keep the items, report it
            stats = self.stats.setdefault((entry.namespace, entry.name), Stats())
            stats.last_error, stats.dirty = f"{rejection.reason}: {rejection.message}", True
            raise ApiTrouble(rejection.message) from rejection
        await self._delete("configmaps", entry.namespace, batch.name)
        key = (entry.namespace, entry.name)
        if self.batches.get(key) is batch:
            del self.batches[key]
        remembered = self.sealed.setdefault(key, {})
        for item_key in batch.items:
            remembered[logic.key_event(item_key)] = name
        while len(remembered) > SEALED_REMEMBERED:
            del remembered[next(iter(remembered))]
        self.stats.setdefault(key, Stats()).dirty = True
        self.wake.set()
        return name

    async def _load_batches(self, entry: TriggerEntry, spec: TriggerSpec) -> None:
        """After a (re)start: adopt the pending batch from the cluster; drop those already sealed."""
        key = (entry.namespace, entry.name)
        if key in self.loaded:
            return
        listing = await self.api.call(
            self.api.core.list_namespaced_config_map,
            entry.namespace,
            label_selector=f"{LABEL_TRIGGER}={logic.trigger_label(entry.name)},{LABEL_BATCH}=pending",
        )
        batches = sorted(
            (b for b in (_batch_from(item) for item in listing.items) if b is not None), key=lambda b: b.opened_at
        )
        open_batches: list[Batch] = []
        for batch in batches:
            if await self._exists("workflows", entry.namespace, logic.batch_workflow_name(entry.name, batch.name)):
                await self._delete("configmaps", entry.namespace, batch.name)
            else:
                open_batches.append(batch)
        for batch in open_batches[:-1]:  # more than one open batch only after a crash mid-seal: seal the older
            await self._seal(entry, spec, batch)
        if open_batches:
            self.batches[key] = open_batches[-1]
        self.loaded.add(key)

    async def sweep(self) -> None:
        """Seal the batches that are full or whose maxWaitSeconds passed (also right after a restart)."""
        now = self.clock()
        for key, entry in list(self.entries.items()):
            spec = entry.spec
            if spec is None or spec.batch is None or not entry.ready:
                continue
            try:
                async with self.lock(key):
                    await self._load_batches(entry, spec)
                    batch = self.batches.get(key)
                    if batch is None:
                        continue
                    if len(batch.items) >= spec.batch.max_items or logic.batch_due(batch.opened_at, spec.batch, now):
                        await self._seal(entry, spec, batch)
            except (ApiException, ApiTrouble) as exc:
                log.warning("trigger %s/%s: sealing a batch failed (will retry): %s", *key, exc)

    def next_deadline(self) -> datetime | None:
        deadlines = [
            logic.batch_deadline(batch.opened_at, spec.batch)
            for key, batch in self.batches.items()
            if (entry := self.entries.get(key)) is not None and (spec := entry.spec) is not None and spec.batch
        ]
        return min(deadlines) if deadlines else None

    # -- Workflows of Triggers ------------------------------------------------------------------------------

    async def observe_workflow(self, body: Mapping[str, Any], deleted: bool) -> None:
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        trigger = trigger_of(meta)
        if not trigger:
            return
        key = (namespace, trigger)
        seen = self.workflows.setdefault(key, {})
        stats = self.stats.setdefault(key, Stats())
        stats.dirty = True
        self.wake.set()
        if deleted:
            seen.pop(name, None)
            return
        status = body.get("status") or {}
        phase = status.get("phase", "Pending")
        finished_at = str(status.get("finishedAt") or meta.get("creationTimestamp") or "")
        counted = (meta.get("annotations") or {}).get(ANNOTATION_COUNTED) is not None
        previous = seen.get(name)
        seen[name] = WorkflowSeen(phase, finished_at, counted or (previous is not None and previous.counted))
        if phase not in logic.FINISHED_PHASES:
            return
        if previous is not None and previous.phase in logic.FINISHED_PHASES:
            seen[name].order = previous.order
        else:
            self.finish_order += 1
            seen[name].order = self.finish_order
        if not seen[name].counted:
            # Mark first, count second: a crash in between under-counts by one rather than counting twice.
            patch = {"metadata": {"annotations": {ANNOTATION_COUNTED: phase}}}
            try:
                await self.api.call(
                    self.api.custom.patch_namespaced_custom_object, GROUP, VERSION, namespace, "workflows", name, patch
                )
            except ApiException as exc:
                if exc.status != 404:  # deleted meanwhile (its ttl): nobody else will count it
                    raise
            if phase == "Succeeded":
                stats.succeeded += 1
            else:
                stats.failed += 1
            if name in seen:
                seen[name].counted = True
        entry = self.entries.get(key)
        if entry is not None and entry.spec is not None:
            # only counted ones are pruned: a Workflow deleted before its count would be lost from the statistics
            finished = [
                (n, w.finished_at, w.order) for n, w in seen.items() if w.phase in logic.FINISHED_PHASES and w.counted
            ]
            for old in logic.history_to_delete(finished, entry.spec.history_limit):
                seen.pop(old, None)
                await self._delete("workflows", namespace, old)

    # -- status ---------------------------------------------------------------------------------------------

    def status_patch(self, key: Key) -> dict[str, Any]:
        stats = self.stats[key]
        running = sum(1 for w in self.workflows.get(key, {}).values() if w.phase not in logic.FINISHED_PHASES)
        return {
            "received": stats.received,
            "accepted": stats.accepted,
            "rejected": stats.rejected,
            "workflowsCreated": stats.workflows_created,
            "batchesPending": 1 if key in self.batches else 0,
            "lastEventTime": stats.last_event_time.isoformat().replace("+00:00", "Z")
            if stats.last_event_time
            else None,
            "lastError": stats.last_error,
            "workflows": {"running": running, "succeeded": stats.succeeded, "failed": stats.failed},
        }

    async def flush(self) -> None:
        for key, stats in list(self.stats.items()):
            if not stats.dirty or key not in self.entries:
                continue
            stats.dirty = False
            try:
                await self._patch_status(*key, self.status_patch(key))
            except (ApiException, ApiTrouble) as exc:
                stats.dirty = True
                log.warning("trigger %s/%s: status not written (will retry): %s", *key, exc)

    async def run(self) -> None:
        """Seal due batches and write statistics, waking early when something changed."""
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
                await self.flush()
            except Exception:  # one bad round never stops the loop; the next one retries
                log.exception("trigger housekeeping failed; retrying")
            await asyncio.sleep(0.05)  # coalesce bursts of wake-ups into one flush

    # -- small API helpers ----------------------------------------------------------------------------------

    async def _patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await self.api.patch_status("triggers", namespace, name, status)

    async def _patch_configmap(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        await self.api.call(self.api.core.patch_namespaced_config_map, name, namespace, dict(patch))

    async def _exists(self, plural: str, namespace: str, name: str) -> bool:
        try:
            if plural == "configmaps":
                await self.api.call(self.api.core.read_namespaced_config_map, name, namespace)
            else:
                await self.api.call(
                    self.api.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
                )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def _delete(self, plural: str, namespace: str, name: str) -> None:
        try:
            if plural == "configmaps":
                await self.api.call(self.api.core.delete_namespaced_config_map, name, namespace)
            else:
                await self.api.call(
                    self.api.custom.delete_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    name,
                    propagation_policy="Background",
                )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def warn(self, entry: TriggerEntry, reason: str, message: str) -> None:
        """A Warning Event on the Trigger, at most one per reason per WARNING_INTERVAL_SECONDS."""
        key = ((entry.namespace, entry.name), reason)
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self.warned.get(key, -WARNING_INTERVAL_SECONDS) < WARNING_INTERVAL_SECONDS:
            return
        self.warned[key] = loop_time
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


def _api_message(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


def _position(batch: Batch, event: EventFacts) -> int:
    wanted = logic.event_key(event)
    return next((i + 1 for i, key in enumerate(batch.items) if logic.key_event(key) == wanted), 0)


def _batch_from(configmap: Any) -> Batch | None:
    meta = configmap.metadata if not isinstance(configmap, Mapping) else None
    name = meta.name if meta is not None else configmap["metadata"]["name"]
    annotations = (meta.annotations if meta is not None else configmap["metadata"].get("annotations")) or {}
    data = (configmap.data if meta is not None else configmap.get("data")) or {}
    opened_at = parse_time(annotations.get(ANNOTATION_OPENED))
    if opened_at is None:
        return None
    return Batch(name=name, opened_at=opened_at, items={key: data[key] for key in sorted(data)})
