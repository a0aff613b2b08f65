"""json-processor: read JSON or JSON Lines, streaming, into `outputs/records.jsonl`, and report its shape.

`format` is `auto` (JSON Lines when the first line is a whole JSON value with more data after it, or the
name ends `.jsonl`/`.ndjson`), `json` or `jsonl`. The records written, one compact JSON value a line: each
line of a JSON Lines file, each item of a top-level JSON array, or the whole document otherwise; with
`fields`, an object record keeps only those keys. A single JSON document is described as a whole (type,
depth, leaves, keys or length, `selected` fields); JSON Lines or several sources by their records (types,
the union of keys, `fieldCounts`). A line that is not JSON fails the run, naming the file and line.
"""

from __future__ import annotations

from typing import Any

from switchyard.processors.contract import (
    Context,
    JSONValue,
    ProcessorError,
    Result,
    config_choice,
    config_int,
    config_str_list,
    json_type,
)
from switchyard.processors.jsonstream import (
    DEFAULT_MAX_LINE_BYTES,
    FORMATS,
    Document,
    detect_format,
    dumps,
    iter_json_lines,
    open_document,
)
from switchyard.processors.output import clip_text
from switchyard.processors.streams import Outputs

OUTPUT_NAME = "records.jsonl"
WRITE_BUFFER_BYTES = 1 << 20

KEY_LIMIT = 50
FIELD_LIMIT = 20
PREVIEW_CHARS = 200
PREVIEW_ITEMS = 10
PREVIEW_DEPTH = 3


def process(ctx: Context) -> Result:
    fields = config_str_list(ctx.config, "fields")
    configured = config_choice(ctx.config, "format", FORMATS)
    max_line = config_int(ctx.config, "maxLineBytes", DEFAULT_MAX_LINE_BYTES, minimum=1)
    assert max_line is not None
    sources = ctx.sources
    if len(sources) == 1 and sources[0].size == 0 and configured != "jsonl":
        raise ProcessorError("input is empty, expected a JSON document")
    with Outputs(ctx.outputs_dir) as outputs:
        records = _Records(outputs, fields)
        formats = []
        result: Result = {}
        for source in sources:
            kind = detect_format(source, configured)
            formats.append(kind)
            if kind == "jsonl":
                for _, value in iter_json_lines(source, max_line):
                    records.add(value)
            else:
                document = _document(open_document(source), records, fields)
                if len(sources) == 1:
                    result = document
        records.close()
        summary: Result = {
            "format": formats[0] if len(set(formats)) == 1 else "mixed",
            "sources": len(sources),
            "records": records.count,
            "depth": records.depth,
            "leaves": records.leaves,
        }
        if not result:
            summary.update(records.preview())
        summary.update(result)
        if outputs.enabled:
            summary["outputs"] = outputs.summary()
    return summary


class _Records:
    """The output file `records.jsonl` (one compact record a line, projected to `fields`) and its counts."""

    def __init__(self, outputs: Outputs, fields: list[str]) -> None:
        self.file = outputs.open(OUTPUT_NAME)
        self.outputs = outputs
        self.fields = list(dict.fromkeys(fields))
        self.count = self.depth = self.leaves = 0
        self.types: dict[str, int] = {}
        self.keys = _SmallestKeys(KEY_LIMIT)
        self.field_counts = dict.fromkeys(self.fields[:FIELD_LIMIT], 0)
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def add(self, value: Any, measured: tuple[int, int] | None = None) -> None:
        depth, leaves = measured or measure(value)
        self.count += 1
        self.depth = max(self.depth, depth)
        self.leaves += leaves
        kind = json_type(value)
        self.types[kind] = self.types.get(kind, 0) + 1
        if isinstance(value, dict):
            for key in value:
                self.keys.add(key)
            for name in self.field_counts:
                if name in value:
                    self.field_counts[name] += 1
        self.write(dumps(self.project(value)) + b"\n")

    def project(self, value: Any) -> Any:
        if self.fields and isinstance(value, dict):
            return {name: value[name] for name in self.fields if name in value}
        return value

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= WRITE_BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.file.write(b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        self.flush()
        self.outputs.close(self.file)

    def preview(self) -> Result:
        keys: list[JSONValue] = [clip_text(key, PREVIEW_CHARS) for key in self.keys.sorted()]
        result: Result = {"types": dict(self.types), "keys": keys, "keysTruncated": self.keys.truncated}
        if self.fields:
            counts: dict[str, JSONValue] = dict(self.field_counts)
            result["fieldCounts"] = counts
            result["missing"] = [name for name, seen in self.field_counts.items() if not seen]
        return result


class _SmallestKeys:
    """The `limit` smallest distinct keys seen, and whether there were more."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: set[str] = set()
        self.truncated = False

    def add(self, key: str) -> None:
        if key in self.kept:
            return
        if len(self.kept) < self.limit:
            self.kept.add(key)
            return
        self.truncated = True
        largest = max(self.kept)
        if key < largest:
            self.kept.remove(largest)
            self.kept.add(key)

    def sorted(self) -> list[str]:
        return sorted(self.kept)


def _document(document: Document, records: _Records, fields: list[str]) -> Result:
    """Stream one JSON document into `records` and describe it (type, depth, leaves, keys or length)."""
    depth = 1 if document.type in ("object", "array") else 0
    leaves = members = 0
    keys = _SmallestKeys(KEY_LIMIT)
    wanted = list(dict.fromkeys(fields))
    selected: dict[str, JSONValue] = {}
    seen: set[str] = set()
    clipped = False
    length: int | None = None
    if document.type == "array":
        for _, item in document.members:
            item_depth, item_leaves = measure(item)
            depth, leaves, members = max(depth, item_depth + 1), leaves + item_leaves, members + 1
            records.add(item, (item_depth, item_leaves))
        length = members
    elif document.type == "object":
        records.count += 1
        records.types["object"] = records.types.get("object", 0) + 1
        records.write(b"{")
        written = 0
        for key, value in document.members:
            assert key is not None
            value_depth, value_leaves = measure(value)
            depth, leaves, members = max(depth, value_depth + 1), leaves + value_leaves, members + 1
            keys.add(key)
            if key in wanted:
                seen.add(key)
            if key in wanted[:FIELD_LIMIT] and key not in selected:
                selected[key], was_clipped = _preview(value, PREVIEW_DEPTH)
                clipped = clipped or was_clipped
            if not wanted or key in wanted:
                records.write((b"," if written else b"") + dumps(key) + b":" + dumps(value))
                written += 1
        records.write(b"}\n")
        records.depth, records.leaves = max(records.depth, depth), records.leaves + leaves
    else:
        _, value = next(document.members)
        for _ in document.members:
            pass
        leaves = 1
        length = len(value) if isinstance(value, str) else None
        records.add(value, (0, 1))
    result: Result = {"type": document.type, "depth": depth, "leaves": leaves}
    if document.type == "object":
        result["keyCount"] = members
        result["keys"] = [clip_text(key, PREVIEW_CHARS) for key in keys.sorted()]
        result["keysTruncated"] = keys.truncated
    elif length is not None:
        result["length"] = length
    if fields:
        missing: list[JSONValue] = [name for name in wanted if name not in seen]
        result["selected"] = selected
        result["missing"] = missing
        result["selectedTruncated"] = clipped or len(wanted) > FIELD_LIMIT
    return result


def measure(document: Any) -> tuple[int, int]:
    """Container nesting depth (a scalar is 0, `[]` is 1) and the number of scalar leaves, iteratively."""
    depth = leaves = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in value.values())
        elif isinstance(value, list):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in value)
        else:
            leaves += 1
    return depth, leaves


def _preview(value: Any, depth: int) -> tuple[JSONValue, bool]:
    """A bounded copy of `value`: long strings cut, long arrays/objects shortened, deep parts summarised."""
    if isinstance(value, str):
        return clip_text(value, PREVIEW_CHARS), len(value) > PREVIEW_CHARS
    if isinstance(value, dict | list) and depth <= 0:
        noun = f"object with {len(value)} keys" if isinstance(value, dict) else f"array of {len(value)} items"
        return f"<{noun}>", True
    if isinstance(value, dict):
        items: dict[str, JSONValue] = {}
        clipped = len(value) > PREVIEW_ITEMS
        for key in list(value)[:PREVIEW_ITEMS]:
            items[clip_text(key, PREVIEW_CHARS)], child_clipped = _preview(value[key], depth - 1)
            clipped = clipped or child_clipped
        return items, clipped
    if isinstance(value, list):
        elements: list[JSONValue] = []
        clipped = len(value) > PREVIEW_ITEMS
        for item in value[:PREVIEW_ITEMS]:
            element, child_clipped = _preview(item, depth - 1)
            elements.append(element)
            clipped = clipped or child_clipped
        return elements, clipped
    scalar: JSONValue = value
    return scalar, False
