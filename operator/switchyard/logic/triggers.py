"""Pure decisions of Triggers: which events a Trigger takes (types, CEL filter), the Workflow input an event
or a batch becomes, deterministic names, when a batch is sealed, concurrency admission and history pruning.

No Kubernetes I/O and no clock: `switchyard.k8s.triggers` passes the time in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import cel

from switchyard.logic import naming
from switchyard.logic.conditions import truncate
from switchyard.models.common import MAX_INPUT_BYTES, MAX_MESSAGE
from switchyard.models.trigger import BatchSpec, ConcurrencyPolicy, TriggerSpec

JSON = "application/json"
FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Invalid"})


class EventRejected(Exception):
    """An event this Trigger does not take; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = truncate(message, MAX_MESSAGE)


@dataclass(frozen=True)
class EventFacts:
    """What a Trigger sees of a CloudEvent (decoded by the ingest server with the CloudEvents SDK)."""

    id: str
    source: str
    type: str
    data: Any = None  # dict/list (JSON), str, bytes or None
    datacontenttype: str | None = None
    subject: str | None = None
    time: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def cel_value(self) -> dict[str, Any]:
        """The `event` variable of a filter (CloudEvents attribute names, as Knative's filters use)."""
        data = self.data
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        return {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject or "",
            "time": self.time or "",
            "datacontenttype": self.datacontenttype or "",
            "data": data,
            "extensions": {key: str(value) for key, value in self.extensions.items()},
        }


@dataclass(frozen=True)
class CompiledFilter:
    expression: str | None
    error: str | None
    program: cel.Program | None = field(default=None, repr=False, compare=False)


def compile_filter(expression: str | None) -> CompiledFilter:
    """Compile a Trigger's `filter`; never raises: a problem goes to `error` (the Trigger is then not Ready)."""
    if expression is None:
        return CompiledFilter(None, None)
    try:
        return CompiledFilter(expression, None, cel.compile(expression))
    except Exception as error:  # the library raises ValueError for parse errors; any failure is invalid
        return CompiledFilter(expression, f"CEL compile error in filter: {error}")


def check_event(spec: TriggerSpec, compiled: CompiledFilter, event: EventFacts) -> None:
    """Raise EventRejected (422) when the event's type is not listed or the filter is not true."""
    if spec.schedule is not None and not spec.event_types:
        raise EventRejected(422, "TypeNotAccepted", "the trigger runs on a schedule and lists no eventTypes")
    if spec.event_types and event.type not in spec.event_types:
        listed = ", ".join(spec.event_types)
        raise EventRejected(422, "TypeNotAccepted", f"event type {event.type!r} is not one of eventTypes [{listed}]")
    if compiled.expression is None:
        return
    if compiled.program is None:
        raise EventRejected(409, "TriggerNotReady", compiled.error or "the filter does not compile")
    try:
        result = compiled.program.execute(cel.Context(variables={"event": event.cel_value()}))
    except Exception as error:  # CEL evaluation errors surface as TypeError/KeyError/ValueError...
        detail = f"no such key: {error}" if isinstance(error, KeyError) else str(error)
        raise EventRejected(422, "FilterError", f"filter could not be evaluated: {detail}") from error
    if result is not True:
        shown = truncate(repr(result), 60)
        raise EventRejected(422, "Filtered", f"filter {compiled.expression!r} is not true for this event ({shown})")


def _as_text(data: Any) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise EventRejected(415, "BinaryData", "event data must be UTF-8 text or JSON") from error
    return data if isinstance(data, str) else _dumps(data)


def _dumps(value: Any) -> str:
    """Compact JSON of event data; 400 for what is not JSON (NaN, Infinity)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise EventRejected(400, "MalformedEvent", f"event data is not JSON: {error}") from error


def _utf8(text: str) -> bytes:
    """The UTF-8 bytes of event data; 400 for what is not Unicode text (a lone surrogate such as `\\ud800`)."""
    try:
        return text.encode()
    except UnicodeEncodeError as error:
        raise EventRejected(400, "MalformedEvent", f"event data is not Unicode text: {error.reason}") from error


def _is_json(content_type: str | None, data: Any) -> bool:
    if isinstance(data, (dict, list)):
        return True
    base = (content_type or "").split(";")[0].strip().lower()
    return base == JSON or base.endswith("+json")


def event_input(event: EventFacts) -> tuple[str, str]:
    """(data, contentType) of the Workflow one event starts; 413 when above the inline input limit."""
    text = "" if event.data is None else _as_text(event.data)
    content_type = JSON if isinstance(event.data, (dict, list)) else (event.datacontenttype or "text/plain")
    check_size(len(_utf8(text)))
    return text, content_type


def check_size(size: int) -> None:
    if size > MAX_INPUT_BYTES:
        raise EventRejected(
            413, "TooLarge", f"event data is {size} bytes; a Workflow input holds at most {MAX_INPUT_BYTES}"
        )


def batch_item(event: EventFacts) -> str:
    """One event as stored in a pending batch (a JSON value: the data, parsed when it is JSON)."""
    value: Any = event.data
    if isinstance(value, bytes):
        value = _as_text(value)
    if isinstance(value, str) and _is_json(event.datacontenttype, value):
        with contextlib.suppress(ValueError, RecursionError):  # declared JSON but is not: kept as a string
            value = json.loads(value)
    item = _dumps(value)
    _utf8(item)
    return item


def batch_input(items: Sequence[str]) -> str:
    """The input of a batch Workflow: a JSON array of the items (already JSON values), in arrival order."""
    return "[" + ",".join(items) + "]"


def batch_input_size(item_sizes: Sequence[int]) -> int:
    return 2 + sum(item_sizes) + max(0, len(item_sizes) - 1)


def event_key(event: EventFacts) -> str:
    """Identity of an event (CloudEvents: `source` + `id` is unique)."""
    return naming.short_hash(event.source, event.id, length=12)


def trigger_label(trigger: str) -> str:
    """The `switchyard.dev/trigger` label value of a Trigger's Workflows and batches: its name when that fits a
    label value (63 characters), else its first 52 characters, '-' and 10 hex characters of the name's sha256.

    A Trigger's name is a DNS subdomain (253): used whole, every event's Workflow was refused. Deterministic, so
    the label selects the same objects after a restart; the owner reference keeps the whole name."""
    if len(trigger) <= naming.MAX_LABEL:
        return trigger
    return naming.fit(trigger, "-" + naming.short_hash(trigger, length=10), naming.MAX_LABEL)


def workflow_name(trigger: str, event: EventFacts) -> str:
    """The Workflow of one event: re-sending the same event finds it (409) instead of creating another."""
    return naming.fit(trigger, "-" + event_key(event), naming.MAX_LABEL)


def batch_name(trigger: str, first: EventFacts) -> str:
    """The pending-batch ConfigMap, named by its first event (a retried first event finds it)."""
    return naming.fit(trigger, "-batch-" + event_key(first), naming.MAX_SUBDOMAIN)


def batch_workflow_name(trigger: str, batch: str) -> str:
    return naming.fit(trigger, "-b" + naming.short_hash(batch, length=11), naming.MAX_LABEL)


def item_key(sequence: int, event: EventFacts) -> str:
    """A ConfigMap key: the arrival sequence (sorts in order) and the event's identity (finds duplicates)."""
    return f"{sequence:06d}-{event_key(event)}"


META_SUFFIX = ".event"  # a pending batch's key holding an item's event attributes (a Trigger with arguments)
MAX_BATCH_STORED_BYTES = 900 * 1024  # items and attributes of a pending batch (a ConfigMap holds 1 MiB)


def meta_key(item: str) -> str:
    """The ConfigMap key of an item's event attributes, beside the item's own key."""
    return item + META_SUFFIX


def key_event(key: str) -> str:
    return key.split("-", 1)[1] if "-" in key else key


def batch_due(opened_at: datetime, batch: BatchSpec, now: datetime) -> bool:
    return now >= opened_at + timedelta(seconds=batch.max_wait_seconds)


def batch_deadline(opened_at: datetime, batch: BatchSpec) -> datetime:
    return opened_at + timedelta(seconds=batch.max_wait_seconds)


Admission = Literal["create", "replace"]


def admit(policy: ConcurrencyPolicy, max_running: int | None, running: int) -> Admission:
    """May a new Workflow start now? 'create', 'replace' (delete the running ones first) or EventRejected.

    Forbid refuses with 409 while one runs (the sender may retry later); the `maxRunning` cap answers
    429 Too Many Requests (with Retry-After), which CloudEvents senders retry.
    """
    if policy == "Replace" and running:
        return "replace"
    if policy == "Forbid" and running:
        raise EventRejected(
            409, "Forbidden", f"concurrencyPolicy Forbid: {running} Workflow(s) of this Trigger still running"
        )
    if max_running is not None and running >= max_running:
        raise EventRejected(429, "TooManyRunning", f"{running} Workflows running, maxRunning is {max_running}")
    return "create"


def history_to_delete(finished: Sequence[tuple[str, str, int]], limit: int) -> list[str]:
    """Names of finished Workflows beyond `limit`, oldest first; `finished` holds (name, finishedAt ISO text,
    the order the operator saw them finish). finishedAt has whole seconds: two Workflows finishing in one
    second are told apart by the order seen, never by name (which would delete the newer one half the time)."""
    ordered = sorted(finished, key=lambda item: (item[1], item[2], item[0]))
    excess = len(ordered) - limit
    return [name for name, _, _ in ordered[:excess]] if excess > 0 else []
