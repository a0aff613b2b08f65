"""What the operator keeps in memory for each Trigger: one `TriggerState` (its spec, counters, open batch,
Workflows seen, lock), created on first sight and dropped as a whole when the Trigger goes.

A new source of Workflows for a Trigger (events today, schedule ticks next) adds its fields here, so that
`forget` still has one thing to drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from switchyard.k8s.entries import parse_time, pydantic_message
from switchyard.logic import triggers as logic
from switchyard.logic.schedule import Schedule, ScheduleInvalid, compile_schedule
from switchyard.logic.triggerargs import check_arguments
from switchyard.logic.triggers import EventFacts
from switchyard.models.common import MAX_INPUT_BYTES
from switchyard.models.crd import API_VERSION
from switchyard.models.labels import LABEL_TRIGGER
from switchyard.models.trigger import TriggerSpec, TriggerStatus

SEALED_REMEMBERED = 10_000  # event keys of sealed batches remembered per Trigger (re-sent events are duplicates)

Key = tuple[str, str]  # (namespace, trigger)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class TriggerEntry:
    """One observed version of a Trigger object: its spec (None when invalid) and compiled filter."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: TriggerSpec | None
    error: str | None
    filter: logic.CompiledFilter
    status: TriggerStatus
    created: datetime = EPOCH  # metadata.creationTimestamp (schedules count from it)
    schedule: Schedule | None = None  # the checked spec.schedule
    error_reason: str = "InvalidSpec"  # the Ready reason when `error` is set

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

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
    schedule: Schedule | None = None
    error_reason = "InvalidSpec"
    if spec is not None:
        compiled = logic.compile_filter(spec.filter)
        problems = [p for p in (compiled.error, check_arguments(spec.arguments, spec.batch is not None)) if p]
        error_reason = "InvalidFilter"
        if spec.schedule is not None:
            try:
                schedule = compile_schedule(spec.schedule)
            except ScheduleInvalid as exc:
                problems.append(f"invalid schedule: {exc}")
                error_reason = "InvalidSchedule"
        error = "; ".join(problems) or None
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
        created=parse_time(meta.get("creationTimestamp")) or datetime.now(UTC),
        schedule=schedule,
        error_reason=error_reason,
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
    last_schedule_time: datetime | None = None  # the latest schedule tick started
    dirty: bool = False

    @classmethod
    def seeded(cls, status: TriggerStatus) -> Stats:
        return cls().seed(status)

    def seed(self, status: TriggerStatus) -> Stats:
        """Add what the status recorded before this process (counts made before it was read are kept)."""
        self.received += status.received
        self.accepted += status.accepted
        self.rejected += status.rejected
        self.workflows_created += status.workflows_created
        self.succeeded += status.workflows.succeeded
        self.failed += status.workflows.failed
        self.last_event_time = self.last_event_time or status.last_event_time
        self.last_error = self.last_error or status.last_error
        if status.last_schedule_time is not None and (
            self.last_schedule_time is None or status.last_schedule_time > self.last_schedule_time
        ):
            self.last_schedule_time = status.last_schedule_time
        return self


@dataclass
class Batch:
    """The open batch of a Trigger: its ConfigMap and items (key -> JSON value) in arrival order.

    `items` is read freely but changed only through `add`/`discard`, which keep an index of the events it holds
    (their positions) and its input size: a check per event costs the same in a batch of 1,000 as of 10."""

    name: str
    opened_at: datetime
    items: dict[str, str] = field(default_factory=dict)
    # item key -> its event's attributes (JSON, `triggerargs.event_meta`): kept when the Trigger has arguments
    metas: dict[str, str] = field(default_factory=dict)
    # (items, Trigger generation, message, retry at) of a seal refused because an argument failed: not tried
    # again until the batch or the Trigger changes, or (the CEL worker over budget or gone) the retry time
    blocked: tuple[int, int, str, datetime | None] | None = None
    _positions: dict[str, int] = field(default_factory=dict, init=False, repr=False)  # event key -> 1-based
    _item_bytes: int = field(default=0, init=False, repr=False)
    _meta_bytes: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._positions = {logic.key_event(key): i + 1 for i, key in enumerate(self.items)}
        self._item_bytes = sum(len(v.encode()) for v in self.items.values())
        self._meta_bytes = sum(len(v.encode()) for v in self.metas.values())

    def add(self, key: str, item: str, meta: str | None = None) -> None:
        self.items[key] = item
        self._positions.setdefault(logic.key_event(key), len(self.items))
        self._item_bytes += len(item.encode())
        if meta is not None:
            self.metas[key] = meta
            self._meta_bytes += len(meta.encode())

    def discard(self, key: str) -> None:
        self.metas.pop(key, None)
        if self.items.pop(key, None) is not None:
            self._reindex()

    def stored(self, key: str) -> dict[str, str]:
        """The ConfigMap data of one item: its value, and its event's attributes when kept."""
        data = {key: self.items[key]}
        if key in self.metas:
            data[logic.meta_key(key)] = self.metas[key]
        return data

    def fits(self, item: str, meta: str | None) -> bool:
        """Whether one more item keeps the Workflow input and the pending ConfigMap within their limits."""
        extra = len(item.encode()) + (len(meta.encode()) if meta is not None else 0)
        stored = self._item_bytes + self._meta_bytes + extra
        return self.size_with(item) <= MAX_INPUT_BYTES and stored <= logic.MAX_BATCH_STORED_BYTES

    def has_event(self, event: EventFacts) -> bool:
        return logic.event_key(event) in self._positions

    def position(self, event: EventFacts) -> int:
        """The event's 1-based place in the batch (0: not in it)."""
        return self._positions.get(logic.event_key(event), 0)

    def key_position(self, key: str) -> int:
        """The 1-based place of an item key in the batch (0: not in it)."""
        return self._positions.get(logic.key_event(key), 0) if key in self.items else 0

    def size_with(self, item: str) -> int:
        """The batch's Workflow input size (`logic.batch_input_size`) with one more item."""
        count = len(self.items) + 1
        return 2 + self._item_bytes + len(item.encode()) + max(0, count - 1)


@dataclass
class WorkflowSeen:
    phase: str
    finished_at: str
    counted: bool = False  # in the stream statistics already (only counted ones are pruned)
    order: int = 0  # when this process first saw it finished: breaks ties within finishedAt's second

    @property
    def finished(self) -> bool:
        return self.phase in logic.FINISHED_PHASES


@dataclass
class TriggerState:
    """Everything in memory about one Trigger (rebuilt from the cluster after a restart).

    `entry` is None while only its Workflows have been seen (the Workflow watch may deliver first).
    """

    entry: TriggerEntry | None = None
    stats: Stats = field(default_factory=Stats)
    batch: Batch | None = None  # the open (pending) batch
    batches_loaded: bool = False  # the pending batches in the cluster were adopted (once per process)
    sealed: dict[str, str] = field(default_factory=dict)  # event key -> its batch's Workflow (bounded, FIFO)
    workflows: dict[str, WorkflowSeen] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serializes the writers of this Trigger
    warned: dict[str, float] = field(default_factory=dict)  # Warning reason -> loop time it was last posted
    # the batched events waiting for the next group commit (batches.submit), and the task writing them
    append_queue: list[tuple[EventFacts, asyncio.Future[dict[str, Any]]]] = field(default_factory=list)
    committer: asyncio.Task[None] | None = None
    schedule_next: datetime | None = None  # the next schedule tick (status.nextScheduleTime)
    schedule_missed: datetime | None = None  # the latest tick given up as too late (warned once)
    schedule_waiting: datetime | None = None  # a due tick refused by Forbid/maxRunning, tried again at:
    schedule_retry_at: float = 0.0  # (loop time)

    def remember_sealed(self, batch: Batch, workflow: str) -> None:
        for item_key in batch.items:
            self.sealed[logic.key_event(item_key)] = workflow
        while len(self.sealed) > SEALED_REMEMBERED:
            del self.sealed[next(iter(self.sealed))]

    def running(self) -> int:
        return sum(1 for seen in self.workflows.values() if not seen.finished)
