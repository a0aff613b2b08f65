"""Reading JSON and JSON Lines files as streams, for json-processor and data-validator.

A JSON Lines file is read a line at a time (`maxLineBytes` bounds one line). A JSON document of at most
`IN_MEMORY_LIMIT` bytes is parsed whole with the standard library (as inline input always was); a larger
one is parsed incrementally with ijson and handed on one top-level member at a time (an array item, or an
object's key and value), so memory is bounded by the largest member, not by the document. ijson's C
backend (yajl) rejects integers beyond 64 bits, which the in-memory parser accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson
import orjson

from switchyard.processors.contract import ProcessorError, Source, json_type, strict_json_loads
from switchyard.processors.streams import read_lines

FORMATS = ("auto", "json", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
IN_MEMORY_LIMIT = 4 << 20
DETECT_BYTES = 1 << 20
DEFAULT_MAX_LINE_BYTES = 16 << 20
# Deeper than the standard library parser can go (it stops near 1000 levels): the same answer for both.
MAX_DEPTH = 900
ERROR_CHARS = 160


@dataclass(frozen=True)
class Document:
    """A JSON document being read: its top-level type and its members (key None for array items/scalars)."""

    type: str
    members: Iterator[tuple[str | None, Any]]


def detect_format(source: Source, configured: str) -> str:
    """ "json" or "jsonl": as configured, or by the name, or by the first line being a whole JSON value
    with more data after it (a JSON Lines file whose first line is over `DETECT_BYTES` needs `format: jsonl`).
    """
    if configured != "auto":
        return configured
    if source.name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    with source.open() as handle:
        head = handle.read(DETECT_BYTES)
    stripped = head.lstrip()
    first, newline, rest = stripped.partition(b"\n")
    if not newline or not rest.strip():
        return "json"
    try:
        strict_json_loads(first)
    except (ValueError, RecursionError):
        return "json"
    return "jsonl"


def iter_json_lines(source: Source, max_line_bytes: int) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line; a line that is not JSON is an error naming it."""
    for number, line in read_lines(source, max_line_bytes):
        if not line.strip():
            continue
        try:
            yield number, loads(line)
        except RecursionError as exc:
            raise ProcessorError(f"{source.name}: line {number} is nested too deeply to parse") from exc
        except ValueError as exc:
            raise ProcessorError(f"{source.name}: line {number} is not valid JSON: {_short(exc)}") from exc


def open_document(source: Source) -> Document:
    """The JSON document in `source` (empty or invalid: ProcessorError); iterate `members` to the end."""
    if source.size <= IN_MEMORY_LIMIT:
        return _loaded(source)
    handle = source.open()
    members = _streamed(source, handle)
    try:
        top = next(members)
    except BaseException:
        handle.close()
        raise
    assert top[0] is None and isinstance(top[1], str)
    return Document(top[1], members)


def _loaded(source: Source) -> Document:
    data = source.path.read_bytes() if source.size else b""
    if not data.strip():
        raise ProcessorError(f"{source.name} is empty, expected a JSON document")
    try:
        document = strict_json_loads(data)
    except RecursionError as exc:
        raise ProcessorError(f"{source.name}: JSON is nested too deeply to parse") from exc
    except ValueError as exc:
        raise ProcessorError(f"{source.name} is not valid JSON: {_short(exc)}") from exc
    members: Iterator[tuple[str | None, Any]]
    if isinstance(document, dict):
        members = iter(document.items())
    elif isinstance(document, list):
        members = ((None, item) for item in document)
    else:
        members = iter([(None, document)])
    return Document(json_type(document), members)


def _streamed(source: Source, handle: IO[bytes]) -> Iterator[tuple[str | None, Any]]:
    """First (None, top-level type), then the members, built from ijson's events with a depth bound."""
    with handle:
        try:
            yield from _members(ijson.basic_parse(handle, use_float=True))
        except ijson.JSONError as exc:
            message = _short(exc)
            if "premature EOF" in message and not source.size:
                raise ProcessorError(f"{source.name} is empty, expected a JSON document") from exc
            raise ProcessorError(f"{source.name} is not valid JSON: {message}") from exc


def _members(events: Iterator[tuple[str, Any]]) -> Iterator[tuple[str | None, Any]]:
    first = next(events, None)
    if first is None:
        raise ProcessorError("input is empty, expected a JSON document")
    event, value = first
    if event not in ("start_map", "start_array"):
        yield None, json_type(value)
        yield None, value
        for _ in events:  # only trailing garbage can follow: ijson raises for it
            pass
        return
    yield None, "object" if event == "start_map" else "array"
    stack: list[tuple[dict[str, Any] | list[Any], list[str | None]]] = []
    top_key: str | None = None
    for event, value in events:
        if event == "map_key":
            if stack:
                stack[-1][1][0] = value
            else:
                top_key = value
            continue
        if event in ("start_map", "start_array"):
            if len(stack) + 2 > MAX_DEPTH:
                raise ProcessorError("input JSON is nested too deeply to parse")
            stack.append(({} if event == "start_map" else [], [None]))
            continue
        if event in ("end_map", "end_array"):
            if not stack:
                continue  # the end of the document; ijson checks what follows
            value = stack.pop()[0]
        if stack:
            parent, key = stack[-1]
            if isinstance(parent, list):
                parent.append(value)
            else:
                parent[str(key[0])] = value
        else:
            yield top_key, value


def loads(data: bytes) -> Any:
    """One JSON value: orjson (strict JSON, fast), else the standard library for what orjson refuses and
    JSON allows (integers beyond 64 bits, escaped lone surrogates), which also gives the error message."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return strict_json_loads(data)


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8: orjson, else the standard library (big integers; lone surrogates escaped)."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
