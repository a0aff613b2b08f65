"""`switchyard.ingest.events`: CloudEvents decoded off the wire (structured and binary HTTP mode)."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from switchyard.ingest.events import no_target_message, parse_event
from switchyard.logic.triggers import EventFacts, EventRejected


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
