"""data-validator: check the input (size, emptiness, JSON) and that upstream outputs are error-free JSON."""

from __future__ import annotations

from typing import Any

from switchyard.processors.contract import (
    Context,
    JSONValue,
    ProcessorError,
    Result,
    config_bool,
    config_int,
    strict_json_loads,
)
from switchyard.processors.output import clip_text

DETAIL_CHARS = 200


def process(ctx: Context) -> Result:
    allow_empty = config_bool(ctx.config, "allowEmpty")
    require_json = config_bool(ctx.config, "requireJson")
    max_bytes = config_int(ctx.config, "maxBytes", None, minimum=0)

    checks: list[dict[str, JSONValue]] = [
        _check("input-utf8", ctx.input_is_utf8, "input is not valid UTF-8"),
        _check("input-non-empty", allow_empty or bool(ctx.input_text), "input is empty"),
    ]
    if max_bytes is not None:
        checks.append(
            _check(
                "input-max-bytes",
                ctx.input_bytes <= max_bytes,
                f"input is {ctx.input_bytes} bytes, over maxBytes {max_bytes}",
            )
        )
    if require_json or ctx.input_text.lstrip().startswith(("{", "[")):
        problem = _json_problem(ctx.input_text) if ctx.input_text.strip() else "input is empty"
        checks.append(_check("input-json", problem is None, f"input: {problem}"))
    for name, output in ctx.upstream.items():
        problem = _upstream_problem(output)
        checks.append(_check(f"upstream:{name}", problem is None, f"upstream {name}: {problem}"))

    upstream: list[JSONValue] = list(ctx.upstream)
    failed = [check for check in checks if not check["ok"]]
    if failed:
        summary = "; ".join(str(check["detail"]) for check in failed)
        raise ProcessorError(
            f"validation failed ({len(failed)} of {len(checks)} checks): {summary}",
            {"valid": False, "failed": [check["name"] for check in failed], "upstream": upstream},
        )
    return {"valid": True, "checks": [check["name"] for check in checks], "upstream": upstream}


def _check(name: str, ok: bool, failure: str) -> dict[str, JSONValue]:
    return {"name": name, "ok": ok, "detail": None if ok else clip_text(failure, DETAIL_CHARS)}


def _json_problem(text: str) -> str | None:
    try:
        strict_json_loads(text)
    except RecursionError:
        return "JSON is nested too deeply"
    except ValueError as exc:
        return f"not valid JSON ({exc})"
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
