"""`switchyard.ingest.events`: CloudEvents decoded off the wire (structured and binary HTTP mode)."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from switchyard.ingest.events import MAX_JSON_DEPTH, nested_deeper_than, no_target_message, parse_event
from switchyard.logic.triggers import EventFacts, EventRejected, batch_item, event_input


def test_parse_event_structured_and_binary() -> None:
    event = CloudEvent(
        attributes={"id": "e1", "source": "/s", "type": "t", "datacontenttype": "application/json", "tenant": "acme"},
        data={"k": 1},
    )
    for message in (to_structured_event(event), to_binary_event(event)):
        parsed = parse_event(dict(message.headers), message.body)
        assert (parsed.id, parsed.source, parsed.type, parsed.data) == ("e1", "/s", "t", {"k": 1})
        assert parsed.extensions == {"tenant": "acme"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/cloudevents+json"}, b'{"specversion": "1.0", "type": "t", "source": "/s"}'),
        ({"Content-Type": "application/cloudevents+json"}, b"not json"),
        ({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, b"{}"),
        ({"ce-specversion": "1.0", "ce-type": "t", "ce-id": "1"}, b"{}"),
        ({"Content-Type": "application/cloudevents+json"}, b'{"specversion": "9.9", "id": "1"}'),
    ],
)
def test_malformed_events_are_400(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse_event(headers, body)
    assert rejected.value.status == 400 and rejected.value.message.startswith("malformed CloudEvent")


def test_a_broadcast_nobody_takes_says_why() -> None:
    event = EventFacts(id="1", source="/s", type="com.example.order", data=None)
    assert no_target_message("ns", event, [], []).endswith("(the namespace has no Triggers)")
    text = no_target_message("ns", event, ["b"], ["a"])
    assert 'type "com.example.order"' in text and "refused by eventTypes or filter: a; not Ready: b" in text


STRUCTURED = {"content-type": "application/cloudevents+json"}


def structured(data: bytes, event_id: bytes = b'"1"') -> bytes:
    return b'{"specversion":"1.0","id":' + event_id + b',"source":"/s","type":"t","data":' + data + b"}"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"[" * 100_000 + b"]" * 100_000, STRUCTURED),  # past Python's recursion limit: the decoder's RecursionError
        (structured(b'{"a":' * 100_000 + b"1" + b"}" * 100_000), STRUCTURED),
        (structured(b"[" * 500 + b"]" * 500), STRUCTURED),  # decodes, but deeper than the limit
        (b"[" * 101 + b"]" * 101, {"content-type": "application/json", "ce-specversion": "1.0", "ce-id": "1",
                                   "ce-source": "/s", "ce-type": "t"}),
    ],
)  # fmt: skip
def test_json_nested_too_deep_is_a_400_with_a_message(body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(headers, body)
    assert (caught.value.status, caught.value.reason) == (400, "NestedTooDeep")
    assert str(caught.value) == f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"


def test_the_depth_limit_itself_is_taken() -> None:
    facts = parse_event(STRUCTURED, structured(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH))
    assert nested_deeper_than(facts.data, MAX_JSON_DEPTH - 1)
    assert not nested_deeper_than(facts.data, MAX_JSON_DEPTH)
    assert not nested_deeper_than([1] * 100_000, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (structured(b'"1"', event_id=b'"\\ud800"'), "not Unicode text"),  # a lone surrogate in an attribute
        (structured(b'"9' + b"9" * 5000 + b'"'), None),  # a long number as a string is fine
    ],
)
def test_what_decodes_but_is_not_text_or_json_is_a_400(body: bytes, message: str | None) -> None:
    if message is None:
        parse_event(STRUCTURED, body)
        return
    with pytest.raises(EventRejected) as caught:
        parse_event(STRUCTURED, body)
    assert caught.value.status == 400 and message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"), [(b'"\\ud800"', "not Unicode text"), (b"[NaN]", "not JSON"), (b"-Infinity", "not JSON")]
)
def test_data_not_text_or_json_is_a_400_where_it_is_serialized(data: bytes, message: str) -> None:
    facts = parse_event(STRUCTURED, structured(data))
    for serialize in (event_input, batch_item):
        with pytest.raises(EventRejected) as caught:
            serialize(facts)
        assert caught.value.status == 400 and message in str(caught.value)
