"""A Trigger's `arguments` for its WorkflowTemplate: CEL expressions over the event, each value made a string.

A string result is taken as it is; `true`/`false` for a bool; any other value (a number, a list, a map) as
compact JSON. Compiled once per expression text (the same cache for every Trigger and event).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cel

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


def _evaluate(arguments: Mapping[str, str], variables: dict[str, Any], occasion: str) -> dict[str, str]:
    compiled = compile_arguments(arguments)
    if compiled.error is not None:
        raise EventRejected(409, "TriggerNotReady", compiled.error)
    context = cel.Context(variables=variables)
    values: dict[str, str] = {}
    for name, program in compiled.programs.items():
        try:
            value = as_argument(program.execute(context))
        except Exception as error:  # CEL evaluation errors surface as TypeError/KeyError/ValueError...
            detail = f"no such key: {error}" if isinstance(error, KeyError) else str(error)
            raise EventRejected(
                422, "ArgumentError", f"arguments.{name} could not be evaluated{occasion}: {detail}"
            ) from error
        if len(value) > MAX_PARAMETER_VALUE:
            raise EventRejected(
                422, "ArgumentError", f"arguments.{name} is {len(value)} characters; at most {MAX_PARAMETER_VALUE}"
            )
        values[name] = value
    return values
