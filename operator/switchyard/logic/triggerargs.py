"""A Trigger's `arguments` for its WorkflowTemplate: CEL expressions over the event (a batched Trigger's over
`events`, `event` and `batch`, read from the persisted batch), each value made a string.

A string result is taken as it is; `true`/`false` for a bool; any other value (a number, a list, a map) as
compact JSON. Compiled once per expression text (the same cache for every Trigger and event); checked against
the declared variables (logic.celcheck) when the Trigger is read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cel

from switchyard.logic.celcheck import check_arguments as check_static_argument
from switchyard.logic.triggers import EventFacts, EventRejected
from switchyard.models.workflow import MAX_PARAMETER_VALUE


@dataclass(frozen=True)
class CompiledArguments:
    programs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@lru_cache(maxsize=1024)
def _compile(expression: str) -> Any:
    return cel.compile(expression)


def compile_arguments(arguments: Mapping[str, str]) -> CompiledArguments:
    """Every argument's program, or the first one that does not compile (the Trigger is then not Ready)."""
    programs: dict[str, Any] = {}
    for name in sorted(arguments):
        try:
            programs[name] = _compile(arguments[name])
        except Exception as error:  # the library raises ValueError for parse errors; any failure is invalid
            return CompiledArguments(error=f"CEL compile error in arguments.{name}: {error}")
    return CompiledArguments(programs)


def check_arguments(arguments: Mapping[str, str], batched: bool) -> str | None:
    """The first argument that does not compile or that certainly cannot work over its variables (`event`;
    batched: also `events` and `batch`), with the same nesting bound as a RoutingRule; None when all may."""
    compiled = compile_arguments(arguments)
    if compiled.error is not None:
        return compiled.error
    for name in sorted(arguments):
        problem = check_static_argument(arguments[name], batched)
        if problem is not None:
            hint = "" if batched or not problem.startswith("unknown variable") else " (events and batch: with batch)"
            return f"CEL check error in arguments.{name}: {problem}{hint}"
    return None


def as_argument(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def event_arguments(arguments: Mapping[str, str], event: EventFacts) -> dict[str, str]:
    """The arguments for this event; EventRejected (422 `ArgumentError`) naming the one that fails."""
    return _evaluate(arguments, {"event": event.cel_value()}, "")


def tick_arguments(arguments: Mapping[str, str]) -> dict[str, str]:
    """The arguments for a schedule tick, which has no event: literals work, an argument that reads `event`
    is refused (EventRejected 422 `ArgumentError` naming it)."""
    return _evaluate(arguments, {}, " for a schedule tick (a tick has no event)")


def event_meta(event: EventFacts) -> str:
    """An event's attributes but its data, as JSON: kept beside its item in a pending batch whose Trigger has
    arguments, so that the batch's `events` are read from what was persisted."""
    attributes = event.cel_value()
    del attributes["data"]
    return json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)


def batch_event(item: str, meta: str | None) -> dict[str, Any]:
    """One event of a persisted batch as `events[i]` (the shape of a filter's `event`): its attributes from
    `meta` (empty strings when the item was stored without them) and its data from the item (parsed JSON)."""
    attributes: dict[str, Any] = {}
    if meta is not None:
        with contextlib.suppress(ValueError, RecursionError):
            loaded = json.loads(meta)
            attributes = loaded if isinstance(loaded, dict) else {}
    data: Any = item
    with contextlib.suppress(ValueError, RecursionError):  # items are JSON values; kept as text if not
        data = json.loads(item)
    event: dict[str, Any] = {key: str(attributes.get(key) or "") for key in STRING_ATTRIBUTES}
    extensions = attributes.get("extensions")
    event["extensions"] = {str(k): str(v) for k, v in extensions.items()} if isinstance(extensions, dict) else {}
    event["data"] = data
    return event


STRING_ATTRIBUTES = ("id", "source", "type", "subject", "time", "datacontenttype")


@dataclass(frozen=True)
class BatchFacts:
    """What a batch's arguments see, all read from the persisted batch (the same batch gives the same values
    whenever its Workflow is created, also after a restart): its events in arrival order, its id (the pending
    ConfigMap's name) and when it was opened (its annotation)."""

    id: str
    opened_at: str
    events: Sequence[Mapping[str, Any]]

    @property
    def occasion(self) -> str:
        return f" for batch {self.id}"

    def variables(self) -> dict[str, Any]:
        events = [dict(event) for event in self.events]
        return {
            "events": events,
            "event": events[0] if events else {},
            "batch": {"size": len(events), "id": self.id, "openedAt": self.opened_at},
        }


def batch_arguments(arguments: Mapping[str, str], batch: BatchFacts) -> dict[str, str]:
    """The arguments of a batch's Workflow, evaluated here; EventRejected (422 `ArgumentError`) naming the one
    that fails. The operator evaluates them in the CEL worker pool instead (`k8s.triggers.batches`), within a
    time budget each, with the same variables (`BatchFacts.variables`) and the same conversion."""
    return _evaluate(arguments, batch.variables(), batch.occasion)


def _evaluate(arguments: Mapping[str, str], variables: dict[str, Any], occasion: str) -> dict[str, str]:
    if not arguments:  # an inline template: nothing to evaluate (building the CEL context was ~3 % of ingest)
        return {}
    compiled = compile_arguments(arguments)
    if compiled.error is not None:
        raise EventRejected(409, "TriggerNotReady", compiled.error)
    try:
        context = cel.Context(variables=variables)
    except Exception as error:  # a value the library cannot convert
        raise EventRejected(
            422, "ArgumentError", f"arguments{occasion}: cannot convert the variables: {error}"
        ) from error
    values: dict[str, str] = {}
    for name, program in compiled.programs.items():
        try:
            value = as_argument(program.execute(context))
        except Exception as error:  # CEL evaluation errors surface as TypeError/KeyError/ValueError...
            detail = f"no such key: {error}" if isinstance(error, KeyError) else str(error)
            raise failed_argument(name, occasion, detail) from error
        values[name] = checked_argument(name, value)
    return values


def checked_argument(name: str, value: str) -> str:
    """An argument's value (made a string already), refused (422 `ArgumentError`) over a parameter's limit."""
    if len(value) > MAX_PARAMETER_VALUE:
        raise EventRejected(
            422, "ArgumentError", f"arguments.{name} is {len(value)} characters; at most {MAX_PARAMETER_VALUE}"
        )
    return value


def failed_argument(name: str, occasion: str, detail: str) -> EventRejected:
    """The refusal of an argument that could not be evaluated (422 `ArgumentError`, naming it)."""
    return EventRejected(422, "ArgumentError", f"arguments.{name} could not be evaluated{occasion}: {detail}")
