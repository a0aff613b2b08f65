"""The crash-safe batch protocol of a Trigger with `batch`: open a pending batch (a ConfigMap named by its
first event), append events to it, seal it into one Workflow, load the pending ones after a restart, sweep
the due ones.

Persistence before acknowledgement: an appended event is a key of the pending ConfigMap before `append`
returns. A batch is sealed by creating its Workflow (a deterministic name) FIRST and deleting the ConfigMap
after, so a crash in between neither loses nor doubles: a pending batch whose Workflow exists is only
deleted. The caller holds the Trigger's lock around every call here (one active operator).

A Trigger with `arguments` keeps each event's attributes beside its item (key `ITEM.event`); the arguments
are evaluated at seal from the persisted batch alone, so a seal retried after a crash gives the same values
(each in the engine's own CEL worker process, within a budget: `events` may hold 1,000 events). An
argument that fails keeps the batch pending (nothing lost): lastError, a Warning Event, and no new try until
the batch or the Trigger changes (or, when the worker ran out of budget or died, ARGUMENT_RETRY_SECONDS later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.celpool.pool import RuleEvaluatorPool, evaluate_json
from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.entries import parse_time
from switchyard.k8s.errors import conflict
from switchyard.k8s.triggers.runs import TriggerRuns, workflow_spec
from switchyard.k8s.triggers.state import Batch, TriggerEntry, TriggerState
from switchyard.logic import triggers as logic
from switchyard.logic.triggerargs import (
    BatchFacts,
    as_argument,
    batch_event,
    checked_argument,
    compile_arguments,
    event_meta,
    failed_argument,
)
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.labels import ANNOTATION_BATCH, ANNOTATION_OPENED, LABEL_BATCH, LABEL_TRIGGER
from switchyard.models.trigger import BatchSpec, TriggerSpec

log = logging.getLogger("switchyard.triggers")
ARGUMENT_BUDGET_SECONDS = 1.0  # each argument of a batch, as a RoutingRule's `when` (celpool.DEFAULT_BUDGET_SECONDS)
ARGUMENT_RETRY_SECONDS = 30.0  # a batch whose argument ran out of budget (a loaded machine?) is tried again
_WORKER_TROUBLE = ("exceeded the", "CEL evaluator process")  # the pool's problems that may pass


class WorkerTrouble(EventRejected):
    """An argument not evaluated because the CEL worker ran out of budget or exited: tried again later."""


class Batches:
    """Open, append, seal, load and sweep the pending batches of Triggers."""

    def __init__(
        self,
        api: Api,
        runs: TriggerRuns,
        clock: Callable[[], datetime],
        wake: asyncio.Event,
        warn: Callable[[TriggerEntry, str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.api = api
        self.runs = runs
        self.clock = clock
        self.wake = wake  # set when a seal changed what the status shows
        self.warn = warn  # a Warning Event on the Trigger (rate-limited by the engine)
        self.pool: RuleEvaluatorPool | None = None  # evaluates batches' arguments; started on first use
        self._warming: asyncio.Task[None] | None = None

    async def submit(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, batch_spec: BatchSpec, event: EventFacts
    ) -> dict[str, Any]:
        """Persist one event into the Trigger's open batch; the 202 body. Group commit: the events that queue up
        while one commit is in flight are written by the next one, in one ConfigMap patch, in arrival order;
        each caller is answered once the patch holding its event returned (accepted means persisted)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        state.append_queue.append((event, future))
        if state.committer is None or state.committer.done():
            # a task of its own, so that no caller waits for the groups queued after its event
            state.committer = asyncio.create_task(self._committer(state, entry, spec, batch_spec))
        return await future

    async def _committer(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, batch_spec: BatchSpec
    ) -> None:
        while state.append_queue:
            group, state.append_queue = state.append_queue, []
            async with state.lock:
                await self._commit(state, entry, spec, batch_spec, group)

    async def _commit(
        self,
        state: TriggerState,
        entry: TriggerEntry,
        spec: TriggerSpec,
        batch_spec: BatchSpec,
        group: list[tuple[EventFacts, asyncio.Future[dict[str, Any]]]],
    ) -> None:
        staged: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []  # item keys in state.batch, not yet written
        try:
            await self.load(state, entry, spec)
            for event, future in group:
                try:
                    result = await self._append(state, entry, spec, batch_spec, event, future, staged)
                except Exception as exc:  # this event's answer (EventRejected: 4xx; API trouble: 503)
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if result is not None and not future.done():
                    future.set_result(result)
            await self._flush(state, entry, spec, batch_spec, staged)
        except BaseException as exc:  # nobody is left waiting, whatever happened
            for _, future in group:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ApiTrouble("interrupted"))
            if not isinstance(exc, Exception):
                raise

    async def _flush(
        self,
        state: TriggerState,
        entry: TriggerEntry,
        spec: TriggerSpec,
        batch_spec: BatchSpec,
        staged: list[tuple[str, asyncio.Future[dict[str, Any]]]],
    ) -> None:
        """Write the staged items of the open batch in one patch, answer their callers, seal when full."""
        if not staged:
            return
        batch = state.batch
        assert batch is not None
        keys, futures = [k for k, _ in staged], [f for _, f in staged]
        staged.clear()
        try:
            # the answer (the whole ConfigMap, up to 1,000 items) is not parsed: nothing here reads it
            await self.api.write(
                self.api.core.patch_namespaced_config_map,
                batch.name,
                entry.namespace,
                {"data": {k: v for key in keys for k, v in batch.stored(key).items()}},
            )
        except Exception as exc:
            for key, future in zip(keys, futures, strict=True):
                batch.discard(key)
                if not future.done():
                    future.set_exception(exc)
            return
        answers = [{"batch": batch.name, "position": batch.key_position(key), "workflows": []} for key in keys]
        if len(batch.items) >= batch_spec.max_items:
            with contextlib.suppress(ApiTrouble):  # persisted already; the sweeper seals it later
                answers[-1]["workflows"] = [await self.seal(state, entry, spec, batch)]
        for future, answer in zip(futures, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    async def _append(
        self,
        state: TriggerState,
        entry: TriggerEntry,
        spec: TriggerSpec,
        batch_spec: BatchSpec,
        event: EventFacts,
        future: asyncio.Future[dict[str, Any]],
        staged: list[tuple[str, asyncio.Future[dict[str, Any]]]],
    ) -> dict[str, Any] | None:
        """One event of a group: its answer, or None when it is staged for the group's patch."""
        item = logic.batch_item(event)
        logic.check_size(logic.batch_input_size([len(item.encode())]))
        meta = event_meta(event) if spec.arguments else None  # what `events` shows at seal
        if meta is not None and len(item.encode()) + len(meta.encode()) > logic.MAX_BATCH_STORED_BYTES:
            raise EventRejected(413, "TooLarge", f"the event is over {logic.MAX_BATCH_STORED_BYTES} bytes to keep")
        batch = state.batch
        if batch is not None and batch.has_event(event):
            await self._flush(state, entry, spec, batch_spec, staged)  # a duplicate of a staged one: written first
            batch = state.batch
            if batch is not None and batch.has_event(event):
                return {"batch": batch.name, "position": batch.position(event), "duplicate": True}
        sealed_into = state.sealed.get(logic.event_key(event))
        if sealed_into is not None:
            return {"workflows": [sealed_into], "duplicate": True}
        if batch is not None and len(batch.items) < batch_spec.max_items and batch.fits(item, meta):
            item_key = logic.item_key(len(batch.items), event)
            batch.add(item_key, item, meta)
            staged.append((item_key, future))
            return None
        await self._flush(state, entry, spec, batch_spec, staged)
        batch = state.batch
        sealed: list[str] = []
        if batch is not None and (len(batch.items) >= batch_spec.max_items or not batch.fits(item, meta)):
            sealed.append(await self.seal(state, entry, spec, batch))
            batch = None
        if batch is not None:  # the flush left room (a staged write failed): stage this one again
            item_key = logic.item_key(len(batch.items), event)
            batch.add(item_key, item, meta)
            staged.append((item_key, future))
            return None
        # A batch is named by its first event: if that name was sealed already, this event is a re-sent
        # first event of a finished batch (opening it again would collide with its Workflow's name).
        first_of = logic.batch_workflow_name(entry.name, logic.batch_name(entry.name, event))
        if await self.api.exists("workflows", entry.namespace, first_of):
            return {"workflows": [first_of], "duplicate": True}
        await self.runs.admit(entry, spec)
        batch = await self.open(state, entry, event, item, meta)
        position = len(batch.items)
        if position >= batch_spec.max_items:
            with contextlib.suppress(ApiTrouble):  # persisted already; the sweeper seals it later
                sealed.append(await self.seal(state, entry, spec, batch))
        return {"batch": batch.name, "position": position, "workflows": sealed}

    async def open(
        self, state: TriggerState, entry: TriggerEntry, first: EventFacts, item: str, meta: str | None = None
    ) -> Batch:
        name = logic.batch_name(entry.name, first)
        opened_at = self.clock()
        item_key = logic.item_key(0, first)
        batch = Batch(name=name, opened_at=opened_at)
        batch.add(item_key, item, meta)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {LABEL_TRIGGER: logic.trigger_label(entry.name), LABEL_BATCH: "pending"},
                "annotations": {ANNOTATION_OPENED: opened_at.isoformat()},
                "ownerReferences": [entry.owner()],
            },
            "data": batch.stored(item_key),
        }
        try:
            await self.api.call(
                self.api.core.create_namespaced_config_map, entry.namespace, body, retry_conflicts=False
            )
        except ApiException as exc:
            if not conflict(exc):
                raise
            # The first event was sent again after a crash that left its batch behind: adopt that batch.
            existing = await self.api.call(self.api.core.read_namespaced_config_map, name, entry.namespace)
            adopted = batch_from(existing)
            if adopted is None:
                raise ApiTrouble(f"pending batch {name} cannot be read") from exc
            if await self.api.exists("workflows", entry.namespace, logic.batch_workflow_name(entry.name, name)):
                await self.api.delete("configmaps", entry.namespace, name)  # sealed before the crash
                raise ApiTrouble(f"batch {name} was sealed; retry") from exc
            state.batch = adopted
            return adopted
        state.batch = batch
        return batch

    async def seal(self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, batch: Batch) -> str:
        """Workflow first, then delete the pending ConfigMap (see the module docstring)."""
        name = logic.batch_workflow_name(entry.name, batch.name)
        arguments = await self._arguments(state, entry, spec, batch)  # before Replace deletes anything
        if spec.concurrency_policy == "Replace":
            await self.runs.replace(entry)
        data = logic.batch_input([batch.items[k] for k in sorted(batch.items)])
        annotations = {ANNOTATION_BATCH: batch.name}
        try:
            await self.runs.create(state, entry, name, workflow_spec(spec, data, logic.JSON, arguments), annotations)
        except EventRejected as rejection:  # the template itself is refused: keep the items, report it
            state.stats.last_error, state.stats.dirty = f"{rejection.reason}: {rejection.message}", True
            raise ApiTrouble(rejection.message) from rejection
        await self.api.delete("configmaps", entry.namespace, batch.name)
        if state.batch is batch:
            state.batch = None
        state.remember_sealed(batch, name)
        state.stats.dirty = True
        self.wake.set()
        return name

    async def _arguments(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, batch: Batch
    ) -> dict[str, str]:
        """The batch Workflow's arguments, from the persisted batch; ApiTrouble (the batch kept) when one fails."""
        if not spec.arguments:
            return {}
        now = self.clock()
        if blocked(batch, entry, now):
            assert batch.blocked is not None
            raise ApiTrouble(batch.blocked[2])
        try:
            return await self._evaluate(spec.arguments, batch_facts(batch))
        except EventRejected as rejection:
            retry_at = None
            if isinstance(rejection, WorkerTrouble):
                retry_at = now + timedelta(seconds=ARGUMENT_RETRY_SECONDS)
                kept = f"tried again in {ARGUMENT_RETRY_SECONDS:g} s or when the Trigger changes"
            else:
                kept = "kept until the Trigger is fixed"
            message = f"{rejection.message}; its {len(batch.items)} events are {kept}"
            batch.blocked = (len(batch.items), entry.generation, message, retry_at)
            state.stats.last_error, state.stats.dirty = f"{rejection.reason}: {message}", True
            if self.warn is not None:
                await self.warn(entry, rejection.reason, message)
            raise ApiTrouble(message) from rejection

    async def _evaluate(self, arguments: Mapping[str, str], facts: BatchFacts) -> dict[str, str]:
        """`triggerargs.batch_arguments`, each argument in the engine's CEL worker process within
        ARGUMENT_BUDGET_SECONDS: `events` may hold 1,000 events, and two nested comprehensions over them took
        1.7-5.7 s holding the GIL in-process (it would stall the ingest and the operator alike)."""
        problem = compile_arguments(arguments).error
        if problem is not None:
            raise EventRejected(409, "TriggerNotReady", problem)
        variables = facts.variables()
        if self.pool is None:
            self.pool = RuleEvaluatorPool(size=1)
        values: dict[str, str] = {}
        for name in sorted(arguments):
            value, failure = await evaluate_json(
                name, arguments[name], variables, budget_seconds=ARGUMENT_BUDGET_SECONDS, pool=self.pool
            )
            if failure is not None:
                refusal = failed_argument(name, facts.occasion, failure)
                if any(mark in failure for mark in _WORKER_TROUBLE):
                    raise WorkerTrouble(refusal.status, refusal.reason, refusal.message)
                raise refusal
            values[name] = checked_argument(name, as_argument(value))
        return values

    def warm(self) -> None:
        """Start the CEL worker now, on the running loop, once a Trigger that will need it is read: the first
        seal need not wait for an interpreter to start (1.3 s measured on a loaded machine)."""
        if self.pool is None:
            self.pool = RuleEvaluatorPool(size=1)
        if self._warming is None:
            self._warming = asyncio.create_task(self._warm(self.pool), name="trigger-cel-warm")

    @staticmethod
    async def _warm(pool: RuleEvaluatorPool) -> None:
        try:
            await pool.warm()
        except Exception as exc:  # the first seal starts one again (and reports what fails)
            log.warning("the CEL worker for batches' arguments did not start: %s", exc)

    def close(self) -> None:
        """Stop the CEL worker process, if one was started."""
        if self._warming is not None:
            self._warming.cancel()
        if self.pool is not None:
            self.pool.close()

    async def load(self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec) -> None:
        """After a (re)start: adopt the pending batch from the cluster; drop those already sealed."""
        if state.batches_loaded:
            return
        listing = await self.api.call(
            self.api.core.list_namespaced_config_map,
            entry.namespace,
            label_selector=f"{LABEL_TRIGGER}={logic.trigger_label(entry.name)},{LABEL_BATCH}=pending",
        )
        batches = sorted(
            (b for b in (batch_from(item) for item in listing.items) if b is not None), key=lambda b: b.opened_at
        )
        open_batches: list[Batch] = []
        for batch in batches:
            if await self.api.exists("workflows", entry.namespace, logic.batch_workflow_name(entry.name, batch.name)):
                await self.api.delete("configmaps", entry.namespace, batch.name)
            else:
                open_batches.append(batch)
        for batch in open_batches[:-1]:  # more than one open batch only after a crash mid-seal: seal the older
            await self.seal(state, entry, spec, batch)
        if open_batches:
            state.batch = open_batches[-1]
        state.batches_loaded = True

    async def sweep(
        self, state: TriggerState, entry: TriggerEntry, spec: TriggerSpec, batch_spec: BatchSpec, now: datetime
    ) -> None:
        """Seal the Trigger's batch when it is full or its maxWaitSeconds passed (also right after a restart)."""
        await self.load(state, entry, spec)
        batch = state.batch
        if batch is None or blocked(batch, entry, now):
            return
        if len(batch.items) >= batch_spec.max_items or logic.batch_due(batch.opened_at, batch_spec, now):
            await self.seal(state, entry, spec, batch)


def deadline(state: TriggerState) -> datetime | None:
    """When the Trigger's open batch is due (None: no open batch, or the Trigger does not batch)."""
    entry = state.entry
    if state.batch is None or entry is None or entry.spec is None or entry.spec.batch is None:
        return None
    if blocked(state.batch, entry, None):
        # not due again until the batch or the Trigger changes, or its retry time
        return state.batch.blocked[3] if state.batch.blocked is not None else None
    return logic.batch_deadline(state.batch.opened_at, entry.spec.batch)


def blocked(batch: Batch, entry: TriggerEntry, now: datetime | None) -> bool:
    """Whether the batch's seal was refused (an argument failed) for these items and this Trigger spec, and
    (`now` given) its retry time, if it has one, has not come."""
    if batch.blocked is None or batch.blocked[:2] != (len(batch.items), entry.generation):
        return False
    retry_at = batch.blocked[3]
    return retry_at is None or now is None or now < retry_at


def batch_facts(batch: Batch) -> BatchFacts:
    """What the batch's arguments see, from its persisted items and attributes only."""
    keys = sorted(batch.items)
    events = [batch_event(batch.items[key], batch.metas.get(key)) for key in keys]
    opened = batch.opened_at.isoformat().replace("+00:00", "Z")
    return BatchFacts(id=batch.name, opened_at=opened, events=events)


def batch_from(configmap: Any) -> Batch | None:
    """The Batch a pending ConfigMap holds (a client model or plain JSON); None without its opened-at."""
    meta = configmap.metadata if not isinstance(configmap, Mapping) else None
    name = meta.name if meta is not None else configmap["metadata"]["name"]
    annotations = (meta.annotations if meta is not None else configmap["metadata"].get("annotations")) or {}
    data = (configmap.data if meta is not None else configmap.get("data")) or {}
    opened_at = parse_time(annotations.get(ANNOTATION_OPENED))
    if opened_at is None:
        return None
    items = {key: data[key] for key in sorted(data) if not key.endswith(logic.META_SUFFIX)}
    metas = {key: data[logic.meta_key(key)] for key in items if logic.meta_key(key) in data}
    return Batch(name=name, opened_at=opened_at, items=items, metas=metas)
