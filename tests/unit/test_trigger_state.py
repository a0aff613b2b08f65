"""`switchyard.k8s.triggers.state`: one in-memory state per Trigger, dropped or replaced as a whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from switchyard.k8s.client import Api
from switchyard.k8s.triggers import TriggerEngine
from switchyard.k8s.triggers.state import SEALED_REMEMBERED, Batch, TriggerState, WorkflowSeen, trigger_entry
from switchyard.logic import triggers as logic
from switchyard.logic.triggers import EventFacts

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def trigger(uid: str = "u1", status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "orders", "uid": uid, "generation": 1},
        "spec": {"workflowTemplate": {}},
        "status": status or {},
    }


def event(number: int) -> EventFacts:
    return EventFacts(id=str(number), source="/s", type="t", data=None)


def engine() -> TriggerEngine:
    return TriggerEngine(cast(Api, None), clock=lambda: NOW)  # in-memory only: no call reaches the API


def test_a_recreated_trigger_starts_a_new_state_and_forget_drops_all_of_it() -> None:
    front = engine()
    front.observe(trigger(status={"received": 7}))
    state = front.states[("ns", "orders")]
    state.batch = Batch("b", NOW, {logic.item_key(0, event(1)): "1"})
    state.workflows["w"] = WorkflowSeen("Running", "")
    state.sealed["k"] = "w"
    state.batches_loaded = True
    assert front.status_patch(("ns", "orders"))["batchesPending"] == 1
    front.observe(trigger())  # the same uid: the same stream
    assert front.states[("ns", "orders")] is state
    front.observe(trigger(uid="u2"))  # deleted and re-created: nothing of the old stream is kept
    fresh = front.states[("ns", "orders")]
    assert fresh is not state and fresh.batch is None and not fresh.workflows and not fresh.sealed
    assert not fresh.batches_loaded and fresh.stats.received == 0
    front.forget("ns", "orders")
    assert front.states == {}


def test_sealed_event_keys_are_remembered_newest_first_out_last() -> None:
    state = TriggerState()
    first = Batch("b1", NOW, {logic.item_key(0, event(0)): "0"})
    state.remember_sealed(first, "wf-first")
    many = Batch("b2", NOW, {logic.item_key(i, event(i + 1)): "x" for i in range(SEALED_REMEMBERED)})
    state.remember_sealed(many, "wf-many")
    assert len(state.sealed) == SEALED_REMEMBERED
    assert logic.event_key(event(0)) not in state.sealed  # the oldest went first
    assert state.sealed[logic.event_key(event(SEALED_REMEMBERED))] == "wf-many"


def test_a_batch_knows_its_events_and_their_places() -> None:
    batch = Batch("b", NOW, {logic.item_key(i, event(i)): str(i) for i in range(3)})
    assert batch.has_event(event(2)) and batch.position(event(2)) == 3
    assert not batch.has_event(event(9)) and batch.position(event(9)) == 0


def test_a_batch_index_follows_adds_and_discards_and_its_size_is_the_input_size() -> None:
    batch = Batch("b", NOW, {logic.item_key(0, event(0)): '"zero"'})
    items = ['{"i":1}', "[1,2,3]", '"\u00e9t\u00e9"']
    for i, item in enumerate(items, start=1):
        assert batch.size_with(item) == logic.batch_input_size([len(v.encode()) for v in [*batch.items.values(), item]])
        batch.add(logic.item_key(i, event(i)), item)
    assert [batch.position(event(i)) for i in range(4)] == [1, 2, 3, 4]
    assert batch.key_position(logic.item_key(3, event(3))) == 4
    batch.discard(logic.item_key(3, event(3)))  # a staged write that failed
    assert not batch.has_event(event(3)) and batch.position(event(3)) == 0
    assert batch.key_position(logic.item_key(3, event(3))) == 0
    assert batch.size_with("0") == logic.batch_input_size([len(v.encode()) for v in [*batch.items.values(), "0"]])
    batch.discard(logic.item_key(0, event(0)))  # not the last: the places after it move up
    assert [batch.position(event(i)) for i in range(3)] == [0, 1, 2]


def test_running_counts_the_workflows_not_finished() -> None:
    state = TriggerState(workflows={"a": WorkflowSeen("Running", ""), "b": WorkflowSeen("Succeeded", "t")})
    assert state.running() == 1


def test_workflows_seen_before_their_trigger_keep_the_counts_of_its_status() -> None:
    """After a restart the Workflow watch may deliver before the Trigger watch: the statistics the status
    holds are still the base the counting adds to (they were reset to zero)."""
    front = engine()
    counted = {
        "metadata": {
            "namespace": "ns",
            "name": "orders-1",
            "labels": {"switchyard.dev/trigger": "orders"},
            "annotations": {"switchyard.dev/counted": "Succeeded"},  # counted before the restart: no API call
            "ownerReferences": [{"kind": "Trigger", "name": "orders", "controller": True}],
        },
        "status": {"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:00Z"},
    }
    asyncio.run(front.observe_workflow(counted, deleted=False))
    front.observe(trigger(status={"received": 5, "accepted": 4, "workflows": {"succeeded": 3, "failed": 1}}))
    patch = front.status_patch(("ns", "orders"))
    assert (patch["received"], patch["accepted"]) == (5, 4)
    assert patch["workflows"] == {"running": 0, "succeeded": 3, "failed": 1}


def test_a_pending_batch_is_read_back_from_its_configmap_and_is_due_after_max_wait() -> None:
    from switchyard.k8s.triggers import batches

    configmap = {
        "metadata": {"name": "orders-b1", "annotations": {batches.ANNOTATION_OPENED: NOW.isoformat()}},
        "data": {logic.item_key(1, event(2)): "2", logic.item_key(0, event(1)): "1"},
    }
    batch = batches.batch_from(configmap)
    assert batch is not None and batch.opened_at == NOW
    assert [batch.position(event(1)), batch.position(event(2))] == [1, 2]  # in arrival (key) order
    assert batches.batch_from({"metadata": {"name": "x"}, "data": {}}) is None  # no opened-at: not ours
    front = engine()
    front.observe({**trigger(), "spec": {"workflowTemplate": {}, "batch": {"maxItems": 5, "maxWaitSeconds": 30}}})
    assert front.next_deadline() is None  # no open batch
    front.states[("ns", "orders")].batch = batch
    assert front.next_deadline() == NOW + timedelta(seconds=30)


def test_a_bad_filter_a_bad_argument_and_a_bad_schedule_are_all_reported_the_reason_invalid_schedule() -> None:
    body = trigger()
    body["spec"] = {
        "workflowTemplateRef": {"name": "t"},
        "arguments": {"a": "event.("},
        "filter": "event.(",
        "schedule": {"cron": "every day"},
    }
    entry = trigger_entry(body)
    assert entry.error is not None and entry.error_reason == "InvalidSchedule"
    assert "CEL compile error in arguments.a" in entry.error
    assert "invalid schedule: cron 'every day'" in entry.error
    assert "filter" in entry.error.split("; ")[0]
    body["spec"] = {"workflowTemplateRef": {"name": "t"}, "arguments": {"a": "event.("}, "schedule": {"cron": "@daily"}}
    entry = trigger_entry(body)
    assert entry.error_reason == "InvalidFilter" and entry.schedule is not None
    assert entry.error is not None and "arguments.a" in entry.error
