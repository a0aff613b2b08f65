"""The pure Trigger decisions (switchyard.logic.triggers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from switchyard.logic import triggers as logic
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.common import MAX_INPUT_BYTES
from switchyard.models.trigger import BatchSpec, TriggerSpec


def spec(**fields: object) -> TriggerSpec:
    return TriggerSpec.model_validate({"workflowTemplate": {}, **fields})


def facts(data: object = None, type_: str = "com.example.order", **more: object) -> EventFacts:
    return EventFacts(id=str(more.pop("id", "1")), source=str(more.pop("source", "/s")), type=type_, data=data, **more)  # type: ignore[arg-type]


def test_defaults_and_bounds() -> None:
    trigger = spec()
    assert trigger.concurrency_policy == "Allow" and trigger.history_limit == 10 and trigger.batch is None
    assert BatchSpec().max_items == 10 and BatchSpec().max_wait_seconds == 10
    with pytest.raises(ValidationError):
        spec(batch={"maxItems": 0})
    with pytest.raises(ValidationError):
        spec(concurrencyPolicy="Sometimes")


def test_event_types_and_filter() -> None:
    trigger = spec(eventTypes=["com.example.order"], filter='event.data.total > 100 && event.source == "/s"')
    compiled = logic.compile_filter(trigger.filter)
    logic.check_event(trigger, compiled, facts({"total": 500}))
    with pytest.raises(EventRejected) as filtered:
        logic.check_event(trigger, compiled, facts({"total": 5}))
    assert filtered.value.status == 422 and filtered.value.reason == "Filtered"
    with pytest.raises(EventRejected) as wrong_type:
        logic.check_event(trigger, compiled, facts({"total": 500}, type_="com.example.refund"))
    assert "not one of eventTypes" in wrong_type.value.message
    with pytest.raises(EventRejected) as missing:
        logic.check_event(trigger, compiled, facts({"other": 1}))
    assert missing.value.reason == "FilterError"
    everything = spec()
    logic.check_event(everything, logic.compile_filter(None), facts("anything", type_="x"))


def test_filter_sees_attributes_and_extensions() -> None:
    compiled = logic.compile_filter('event.extensions.tenant == "acme" && event.subject.startsWith("orders/")')
    logic.check_event(spec(), compiled, facts({}, subject="orders/7", extensions={"tenant": "acme"}))
    with pytest.raises(EventRejected):
        logic.check_event(spec(), compiled, facts({}, subject="orders/7", extensions={"tenant": "other"}))


def test_bad_filter_is_reported_not_raised() -> None:
    compiled = logic.compile_filter("event.type ==")
    assert compiled.error is not None and compiled.error.startswith("CEL compile error in filter")
    with pytest.raises(EventRejected) as rejected:
        logic.check_event(spec(filter="event.type =="), compiled, facts({}))
    assert rejected.value.status == 409


def test_event_input() -> None:
    assert logic.event_input(facts({"a": 1})) == ('{"a":1}', "application/json")
    assert logic.event_input(facts("plain", datacontenttype="text/csv")) == ("plain", "text/csv")
    assert logic.event_input(facts(b"bytes")) == ("bytes", "text/plain")
    assert logic.event_input(facts(None)) == ("", "text/plain")
    with pytest.raises(EventRejected) as binary:
        logic.event_input(facts(b"\xff\xfe"))
    assert binary.value.status == 415
    with pytest.raises(EventRejected) as large:
        logic.event_input(facts("x" * (MAX_INPUT_BYTES + 1)))
    assert large.value.status == 413


def test_batch_input_is_a_json_array_in_order() -> None:
    items = [
        logic.batch_item(facts({"n": 1})),
        logic.batch_item(facts('{"n": 2}', datacontenttype="application/json")),
        logic.batch_item(facts("text")),
        logic.batch_item(facts("{broken", datacontenttype="application/json")),
    ]
    text = logic.batch_input(items)
    assert json.loads(text) == [{"n": 1}, {"n": 2}, "text", "{broken"]
    assert logic.batch_input_size([len(i.encode()) for i in items]) == len(text.encode())


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_names_are_deterministic_and_valid(source: str, event_id: str) -> None:
    event = facts({}, source=source, id=event_id)
    name = logic.workflow_name("a-very-long-trigger-name-" * 4, event)
    assert name == logic.workflow_name("a-very-long-trigger-name-" * 4, event) and len(name) <= 63
    batch = logic.batch_name("t", event)
    assert logic.batch_workflow_name("t", batch) != logic.workflow_name("t", event)
    key = logic.item_key(7, event)
    assert key.startswith("000007-") and logic.key_event(key) == logic.event_key(event)


def test_event_identity_is_source_and_id() -> None:
    assert logic.event_key(facts(id="1", source="/a")) != logic.event_key(facts(id="1", source="/b"))
    assert logic.event_key(facts(id="1", source="/a")) == logic.event_key(facts({"other": 1}, id="1", source="/a"))


def test_batch_timer() -> None:
    opened = datetime(2026, 1, 1, tzinfo=UTC)
    batch = BatchSpec(maxItems=5, maxWaitSeconds=3)
    assert not logic.batch_due(opened, batch, opened + timedelta(seconds=2.9))
    assert logic.batch_due(opened, batch, opened + timedelta(seconds=3))
    assert logic.batch_deadline(opened, batch) == opened + timedelta(seconds=3)


def test_admission() -> None:
    assert logic.admit("Allow", None, 50) == "create"
    assert logic.admit("Forbid", None, 0) == "create"
    assert logic.admit("Replace", None, 2) == "replace"
    assert logic.admit("Replace", None, 0) == "create"
    with pytest.raises(EventRejected) as forbid:
        logic.admit("Forbid", None, 1)
    assert forbid.value.status == 409
    with pytest.raises(EventRejected) as cap:
        logic.admit("Allow", 3, 3)
    assert cap.value.status == 429
    assert logic.admit("Allow", 3, 2) == "create"


def test_history_keeps_the_newest() -> None:
    finished = [("c", "2026-01-03", 3), ("a", "2026-01-01", 1), ("b", "2026-01-02", 2)]
    assert logic.history_to_delete(finished, 1) == ["a", "b"]
    assert logic.history_to_delete(finished, 3) == []
    assert logic.history_to_delete(finished, 0) == ["a", "b", "c"]


def test_history_breaks_ties_within_a_second_by_the_order_seen_not_the_name() -> None:
    """Two Workflows finishing in one second: the later one is kept whatever its (hashed) name."""
    finished = [("short-3dd7", "2026-01-01T00:00:05Z", 1), ("short-1c41", "2026-01-01T00:00:05Z", 2)]
    assert logic.history_to_delete(finished, 1) == ["short-3dd7"]


def test_a_trigger_label_is_the_name_when_it_fits_else_a_deterministic_cut_and_hash() -> None:
    from switchyard.config import LABEL_VALUE
    from switchyard.logic.triggers import trigger_label

    assert trigger_label("orders") == "orders"
    assert trigger_label("a" * 63) == "a" * 63
    long = "orders.eu-west." + "x" * 230 + "-final"
    label = trigger_label(long)
    assert len(label) == 63 and LABEL_VALUE.match(label) and label == trigger_label(long)  # deterministic
    assert label.startswith("orders.eu-west.") and label[-11] == "-" and label != trigger_label(long + "2")
    assert LABEL_VALUE.match(trigger_label("a" * 51 + "." + "b" * 100))  # a cut never ends in '.' before the hash
