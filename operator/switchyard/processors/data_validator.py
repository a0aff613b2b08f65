"""data-validator: check the input (UTF-8, size, emptiness, JSON) and the upstream results and artifacts.

Files are read as streams: UTF-8 block by block, JSON and JSON Lines as `jsonstream` reads them. The input
is checked as JSON when `requireJson` is set or it starts with `{` or `[`; so is each upstream artifact.
A dependency's result (when given; always for a dependency that passed no artifacts) must be non-empty
JSON that reports no `error`.
"""

from __future__ import annotations

import codecs
from typing import Any

from switchyard.processors.contract import (
    Context,
    JSONValue,
    ProcessorError,
    Result,
    Source,
    config_bool,
    config_choice,
    config_int,
    strict_json_loads,
)
from switchyard.processors.jsonstream import (
    DEFAULT_MAX_LINE_BYTES,
    FORMATS,
    detect_format,
    iter_json_lines,
    open_document,
)
from switchyard.processors.output import clip_text
from switchyard.processors.streams import read_blocks

DETAIL_CHARS = 200
SNIFF_BYTES = 64 << 10


def process(ctx: Context) -> Result:
    allow_empty = config_bool(ctx.config, "allowEmpty")
    require_json = config_bool(ctx.config, "requireJson")
    max_bytes = config_int(ctx.config, "maxBytes", None, minimum=0)
    configured = config_choice(ctx.config, "format", FORMATS)
    max_line = config_int(ctx.config, "maxLineBytes", DEFAULT_MAX_LINE_BYTES, minimum=1)
    assert max_line is not None

    source = ctx.input
    empty = source.size == 0 or (source.size <= SNIFF_BYTES and not _head(source).strip())
    checks: list[dict[str, JSONValue]] = [
        _check("input-utf8", _is_utf8(source), "input is not valid UTF-8"),
        _check("input-non-empty", allow_empty or source.size > 0, "input is empty"),
    ]
    if max_bytes is not None:
        checks.append(
            _check(
                "input-max-bytes",
                source.size <= max_bytes,
                f"input is {source.size} bytes, over maxBytes {max_bytes}",
            )
        )
    if require_json or _looks_like_json(source):
        problem = "input is empty" if empty else _json_problem(source, configured, max_line)
        checks.append(_check("input-json", problem is None, f"input: {problem}"))
    for name, dependency in ctx.upstream.items():
        if dependency.result is not None or not dependency.artifacts:
            problem = _upstream_problem(dependency.result or "")
            checks.append(_check(f"upstream:{name}", problem is None, f"upstream {name}: {problem}"))
        for artifact in dependency.artifacts:
            if require_json or _looks_like_json(artifact):
                problem = _json_problem(artifact, configured, max_line)
                checks.append(_check(f"artifact:{artifact.name}", problem is None, f"{artifact.name}: {problem}"))

    upstream: list[JSONValue] = list(ctx.upstream)
    artifacts = ctx.upstream_artifacts
    summary: Result = {
        "upstream": upstream,
        "artifacts": {"count": len(artifacts), "bytes": sum(a.size for a in artifacts)},
        "inputBytes": source.size,
    }
    failed = [check for check in checks if not check["ok"]]
    if failed:
        text = "; ".join(str(check["detail"]) for check in failed)
        raise ProcessorError(
            f"validation failed ({len(failed)} of {len(checks)} checks): {text}",
            {"valid": False, "failed": [check["name"] for check in failed], **summary},
        )
    return {"valid": True, "checks": [check["name"] for check in checks], **summary}


def _head(source: Source) -> bytes:
    if not source.size:
        return b""
    with source.open() as handle:
        return bytes(handle.read(SNIFF_BYTES))


def _looks_like_json(source: Source) -> bool:
    return _head(source).lstrip().startswith((b"{", b"["))


def _is_utf8(source: Source) -> bool:
    if not source.size:
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with source.open() as handle:
            for block in read_blocks(handle):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check(name: str, ok: bool, failure: str) -> dict[str, JSONValue]:
    return {"name": name, "ok": ok, "detail": None if ok else clip_text(failure, DETAIL_CHARS)}


def _json_problem(source: Source, configured: str, max_line: int) -> str | None:
    """None when `source` is one JSON document or JSON Lines (read to the end, streaming), else why not."""
    try:
        if detect_format(source, configured) == "jsonl":
            for _ in iter_json_lines(source, max_line):
                pass
        else:
            for _ in open_document(source).members:
                pass
    except ProcessorError as exc:
        return exc.message
    return None


def _upstream_problem(output: str) -> str | None:
    if not output.strip():
        return "output is empty"
    try:
        document: Any = strict_json_loads(output)
    except RecursionError:
        return "output JSON is nested too deeply"
    except ValueError as exc:
        return f"output is not valid JSON ({exc})"
    if isinstance(document, dict) and "error" in document:
        return f"reported an error: {clip_text(str(document['error']), DETAIL_CHARS)}"
    return None
