"""CloudEvents off the wire: an HTTP request decoded by the `cloudevents` SDK (structured or binary mode) into
the facts the Trigger logic decides on, and why a broadcast event reached no Trigger."""

from __future__ import annotations

import json
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.exceptions import BaseCloudEventException

from switchyard.logic.triggers import EventFacts, EventRejected

STANDARD_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "datacontenttype", "dataschema", "subject", "time", "data", "data_base64"}
)


# JSON nested deeper than this is refused: the code the data meets after decoding recurses (the CEL library,
# the serializers on the way to the API, the processors), so depth is what bounds its stack, not the body size.
# Python's decoder itself stops at its recursion limit (RecursionError, refused as nested too deep as well).
MAX_JSON_DEPTH = 100


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests arrays/objects more than `limit` levels (iterative, linear)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack += [(child, depth + 1) for child in children if child.__class__ in _CONTAINERS]
    return False


_CONTAINERS = (dict, list)


def _too_deep() -> EventRejected:
    return EventRejected(400, "NestedTooDeep", f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")


def _check_text(facts: EventFacts) -> None:
    """Refuse attributes that parse but are not Unicode text or JSON: lone surrogates (`"\\ud800"`), NaN,
    Infinity (the data is checked where it is serialized, `logic.triggers.event_input`/`batch_item`)."""
    values: list[Any] = [facts.id, facts.source, facts.type, facts.subject, facts.time, facts.datacontenttype]
    try:
        json.dumps([*values, facts.extensions], ensure_ascii=False, allow_nan=False, default=str).encode()
    except UnicodeEncodeError as error:
        raise EventRejected(
            400, "MalformedEvent", f"malformed CloudEvent: not Unicode text ({error.reason})"
        ) from error
    except ValueError as error:
        raise EventRejected(400, "MalformedEvent", f"malformed CloudEvent: not JSON ({error})") from error


def event_facts(event: BaseCloudEvent) -> EventFacts:
    attributes = event.get_attributes()
    time_value = event.get_time()
    return EventFacts(
        id=event.get_id(),
        source=event.get_source(),
        type=event.get_type(),
        data=event.get_data(),
        datacontenttype=event.get_datacontenttype(),
        subject=event.get_subject(),
        time=time_value.isoformat() if time_value is not None else None,
        extensions={k: v for k, v in attributes.items() if k not in STANDARD_ATTRIBUTES},
    )


def parse_event(headers: dict[str, str], body: bytes) -> EventFacts:
    """Decode a CloudEvent (binary mode when ce- headers are present, else structured); 400 when malformed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = from_http_event(HTTPMessage(headers=lowered, body=body))
        facts = event_facts(event)
    except RecursionError as error:
        raise _too_deep() from error
    except (BaseCloudEventException, ValueError, KeyError, TypeError, AttributeError) as error:
        raise EventRejected(400, "MalformedEvent", f"malformed CloudEvent: {error}") from error
    if any(
        isinstance(v, (dict, list)) and nested_deeper_than(v, MAX_JSON_DEPTH) for v in (facts.data, facts.extensions)
    ):
        raise _too_deep()
    _check_text(facts)
    # The SDK invents a UUID for a missing `id` (a producer's convenience); on the wire `id` is REQUIRED and it
    # is what makes a re-sent event idempotent, so an event without one is refused.
    binary = any(key.startswith("ce-") for key in lowered)
    sent_id = lowered.get("ce-id") if binary else _structured_id(body)
    if not sent_id:
        raise EventRejected(400, "MalformedEvent", "malformed CloudEvent: missing required attribute 'id'")
    return facts


def _structured_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def no_target_message(namespace: str, event: EventFacts, not_ready: list[str], refused: list[str]) -> str:
    """Why a broadcast event reached no Trigger: none exists, none is Ready, or none accepts its type/filter."""
    text = f'no Ready Trigger in namespace "{namespace}" accepts events of type "{event.type[:256]}"'
    if not not_ready and not refused:
        return text + " (the namespace has no Triggers)"
    parts = []
    if refused:
        parts.append(f"refused by eventTypes or filter: {', '.join(refused[:10])}")
    if not_ready:
        parts.append(f"not Ready: {', '.join(not_ready[:10])}")
    return f"{text} ({'; '.join(parts)})"
