"""`switchyard.logic.triggerargs`: a Trigger's arguments over one event, and a batched Trigger's over `events`,
`event` (the first) and `batch`, read from the persisted batch; checked against those variables when read."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.triggers.batches import Batches, batch_facts, batch_from, blocked, deadline
from switchyard.k8s.triggers.runs import TriggerRuns
from switchyard.k8s.triggers.state import Batch, TriggerState, trigger_entry
from switchyard.logic import triggers as logic
from switchyard.logic.triggerargs import (
    BatchFacts,
    batch_arguments,
    batch_event,
    check_arguments,
    event_arguments,
    event_meta,
)
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.labels import ANNOTATION_OPENED
from switchyard.models.trigger import TriggerSpec

OPENED = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def event(number: int, data: Any, **attributes: Any) -> EventFacts:
    return EventFacts(id=f"e-{number}", source="/shop", type="order.created", data=data, **attributes)


def persisted(events: list[EventFacts]) -> Batch:
    """A batch as the engine builds it in memory: items with their events' attributes."""
    batch = Batch("orders-batch-abc", OPENED)
    for number, facts in enumerate(events):
        batch.add(logic.item_key(number, facts), logic.batch_item(facts), event_meta(facts))
    return batch


def three() -> list[EventFacts]:
    return [
        event(1, {"customer": "acme", "total": 150}, subject="cart-1", extensions={"tenant": "t1"}),
        event(2, {"customer": "globex", "total": 20}),
        event(3, '{"customer": "initech", "total": 5}', datacontenttype="application/json"),
    ]


def test_a_batchs_arguments_see_events_in_order_the_first_event_and_the_batch() -> None:
    arguments = {
        "count": "string(size(events))",
        "first": "event.data.customer",
        "customers": "events.map(e, e.data.customer)",
        "total": "events.map(e, e.data.total)[0] + events[1].data.total",
        "ids": "events.map(e, e.id)",
        "tenant": "events[0].extensions.tenant",
        "subject": "event.subject",
        "size": "batch.size",
        "id": "batch.id",
        "opened": "batch.openedAt",
        "big": "events.exists(e, e.data.total > 100)",
    }
    values = batch_arguments(arguments, batch_facts(persisted(three())))
    assert values == {
        "count": "3",
        "first": "acme",
        "customers": '["acme","globex","initech"]',  # the third's JSON text is parsed, as in the batch's input
        "total": "170",
        "ids": '["e-1","e-2","e-3"]',
        "tenant": "t1",
        "subject": "cart-1",
        "size": "3",
        "id": "orders-batch-abc",
        "opened": "2026-01-01T12:00:00.123456Z",
        "big": "true",
    }


def test_the_same_persisted_batch_gives_the_same_arguments_after_a_restart() -> None:
    """A restart reads the pending ConfigMap back (batch_from): the values are those the live batch gave."""
    live = persisted(three())
    data = {k: v for key in live.items for k, v in live.stored(key).items()}
    configmap = {"metadata": {"name": live.name, "annotations": {ANNOTATION_OPENED: OPENED.isoformat()}}, "data": data}
    reloaded = batch_from(configmap)
    assert reloaded is not None
    assert reloaded.items == live.items and reloaded.metas == live.metas
    arguments = {"count": "string(size(events))", "ids": "events.map(e, e.id)", "opened": "batch.openedAt"}
    assert batch_arguments(arguments, batch_facts(reloaded)) == batch_arguments(arguments, batch_facts(live))
    assert all(key.endswith(logic.META_SUFFIX) or key in live.items for key in data)


def test_an_item_stored_without_attributes_shows_empty_strings_and_its_data() -> None:
    assert batch_event('"plain text"', None) == {
        "id": "",
        "source": "",
        "type": "",
        "subject": "",
        "time": "",
        "datacontenttype": "",
        "extensions": {},
        "data": "plain text",
    }
    facts = event(1, "x", subject="s", extensions={"n": 3})
    shaped = batch_event(logic.batch_item(facts), event_meta(facts))
    assert shaped == {**facts.cel_value(), "data": "x"}


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("events[5].data", "arguments.bad could not be evaluated for batch orders-batch-abc"),
        ("event.data.missing", "no such key: 'missing'"),
        ("events.map(e, e.data.customer)[0] + 1", "arguments.bad could not be evaluated"),
    ],
)
def test_an_argument_that_fails_for_a_batch_is_an_argument_error_naming_it(expression: str, named: str) -> None:
    with pytest.raises(EventRejected) as refused:
        batch_arguments({"ok": "batch.size", "bad": expression}, batch_facts(persisted(three())))
    assert (refused.value.status, refused.value.reason) == (422, "ArgumentError")
    assert named in refused.value.message


def test_a_value_over_the_parameter_limit_is_an_argument_error() -> None:
    facts = BatchFacts("b", "t", [batch_event(json.dumps("y" * 3000), None)] * 2)
    with pytest.raises(EventRejected) as refused:
        batch_arguments({"all": "events.map(e, e.data)"}, facts)
    assert refused.value.reason == "ArgumentError" and "arguments.all is 6007 characters" in refused.value.message


def test_an_empty_batch_has_an_empty_first_event() -> None:
    assert batch_arguments({"n": "size(events)", "e": "size(event)"}, BatchFacts("b", "t", [])) == {"n": "0", "e": "0"}


def test_single_event_arguments_are_unchanged() -> None:
    assert event_arguments({"who": "event.data.customer", "n": "1 + 1"}, three()[0]) == {"who": "acme", "n": "2"}


@pytest.mark.parametrize(
    ("arguments", "batched", "problem"),
    [
        ({"a": "event.("}, True, "CEL compile error in arguments.a"),
        ({"a": "events[0].dat"}, True, "unknown field dat of an event (did you mean data?)"),
        ({"a": "events.data"}, True, "cannot select field 'data' of the events list"),
        ({"a": "batch.sise"}, True, "unknown field sise of batch (did you mean size?)"),
        ({"a": 'event["dat"]'}, False, "unknown field dat of an event (did you mean data?)"),
        ({"a": "evnts"}, True, "unknown variable evnts (did you mean events?): the variables are event, events, batch"),
        ({"a": "size(events)"}, False, "unknown variable events (did you mean event?)"),
        ({"a": "batch.size"}, False, "(events and batch: with batch)"),
        (
            {"a": "events.all(x, events.all(y, events.all(z, events.all(w, true))))"},
            True,
            "nested 4 deep; at most 3",
        ),
    ],
)
def test_arguments_are_checked_against_their_variables(arguments: dict[str, str], batched: bool, problem: str) -> None:
    found = check_arguments(arguments, batched)
    assert found is not None and problem in found, found


def test_arguments_that_may_work_pass_the_check() -> None:
    batched = {"n": "string(size(events))", "c": "event.data.customer", "b": "batch.id + '-' + string(batch.size)"}
    assert check_arguments(batched, True) is None
    assert check_arguments({"c": "event.data.customer", "t": "event['type']", "l": '"literal"'}, False) is None


def test_a_batched_trigger_takes_arguments_and_is_not_ready_when_they_cannot_work() -> None:
    spec = {"workflowTemplateRef": {"name": "t"}, "batch": {"maxItems": 3}, "arguments": {"n": "size(events)"}}
    assert TriggerSpec.model_validate(spec).arguments == {"n": "size(events)"}
    body = {"metadata": {"namespace": "ns", "name": "orders", "uid": "u", "generation": 1}, "spec": spec}
    assert trigger_entry(body).ready
    body["spec"] = {**spec, "arguments": {"n": "size(evnts)"}}
    entry = trigger_entry(body)
    assert not entry.ready and entry.error is not None and "CEL check error in arguments.n" in entry.error
    body["spec"] = {"workflowTemplateRef": {"name": "t"}, "arguments": {"n": "size(events)"}}
    entry = trigger_entry(body)
    assert not entry.ready and entry.error is not None and "events and batch: with batch" in entry.error


def test_the_operator_evaluates_a_batchs_arguments_in_a_cel_worker_within_a_budget() -> None:
    """The same values as `batch_arguments`; two nested comprehensions over 1,000 events (1.7 s and more
    in-process, holding the GIL) are an ArgumentError naming the argument, not a stalled ingest loop."""
    batches = Batches(cast(Api, None), cast(TriggerRuns, None), lambda: OPENED, asyncio.Event())
    facts = batch_facts(persisted(three()))
    arguments = {"count": "string(size(events))", "customers": "events.map(e, e.data.customer)", "n": "batch.size"}
    many = BatchFacts("big", "t", [batch_event(json.dumps({"n": i}), None) for i in range(1000)])
    quadratic = {"slow": "events.filter(a, events.exists(b, b.data.n == a.data.n)).size()"}

    async def run() -> None:
        try:
            assert await batches._evaluate(arguments, facts) == batch_arguments(arguments, facts)
            with pytest.raises(EventRejected) as refused:
                await batches._evaluate(quadratic, many)
            assert refused.value.reason == "ArgumentError"
            assert "arguments.slow could not be evaluated for batch big" in refused.value.message
            assert "budget" in refused.value.message
            with pytest.raises(EventRejected) as failed:
                await batches._evaluate({"who": "events[7].data"}, facts)
            assert "arguments.who could not be evaluated for batch orders-batch-abc" in failed.value.message
        finally:
            batches.close()

    asyncio.run(run())


def test_a_batch_whose_argument_failed_is_not_tried_again_until_it_or_the_trigger_changes() -> None:
    """A failure of the expression waits for a change; the worker out of budget is tried again 30 s later."""
    batches = Batches(cast(Api, None), cast(TriggerRuns, None), lambda: OPENED, asyncio.Event())
    body: dict[str, Any] = {
        "metadata": {"namespace": "ns", "name": "orders", "uid": "u", "generation": 1},
        "spec": {"workflowTemplateRef": {"name": "t"}, "batch": {"maxItems": 1000}, "arguments": {"who": "events[9]"}},
    }
    entry = trigger_entry(body)
    assert entry.spec is not None and entry.ready
    state = TriggerState(entry=entry)
    state.batch = batch = persisted(three())

    async def run() -> None:
        try:
            with pytest.raises(ApiTrouble, match=r"arguments\.who could not be evaluated .* kept until the Trigger"):
                await batches._arguments(state, entry, entry.spec, batch)
            assert state.stats.last_error is not None and state.stats.last_error.startswith("ArgumentError: ")
            assert blocked(batch, entry, OPENED + timedelta(days=1)) and deadline(state) is None
            body["metadata"]["generation"] = 2  # the Trigger changed: tried again
            assert not blocked(batch, trigger_entry(body), OPENED)
            extra = event(4, {"customer": "x"})
            batch.add(logic.item_key(3, extra), logic.batch_item(extra), event_meta(extra))  # so did the batch
            assert not blocked(batch, entry, OPENED)

            slow = {"slow": "events.filter(a, events.exists(b, b.data.n == a.data.n)).size()"}
            big = Batch("big", OPENED)
            for i in range(1000):
                facts = event(i, {"n": i})
                big.add(logic.item_key(i, facts), logic.batch_item(facts), event_meta(facts))
            state.batch = big
            with pytest.raises(ApiTrouble, match=r"budget.*tried again in 30 s"):
                await batches._arguments(state, entry, entry.spec.model_copy(update={"arguments": slow}), big)
            assert deadline(state) == OPENED + timedelta(seconds=30)
            assert blocked(big, entry, OPENED + timedelta(seconds=29))
            assert not blocked(big, entry, OPENED + timedelta(seconds=30))
        finally:
            batches.close()

    asyncio.run(run())
