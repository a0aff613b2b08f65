"""The file contract a processor sees inside its Job: input, config, upstream outputs and identity env.

Everything is read once into an immutable `Context`; processors never touch the filesystem themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
Result: TypeAlias = dict[str, JSONValue]

DEFAULT_ROOT = Path("/switchyard")
DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
ENV_ROOT = "SWITCHYARD_ROOT"
ENV_TERMINATION_LOG = "SWITCHYARD_TERMINATION_LOG"
ENV_WORKFLOW = "SWITCHYARD_WORKFLOW"
ENV_NODE = "SWITCHYARD_NODE"
ENV_ATTEMPT = "SWITCHYARD_ATTEMPT"


class ProcessorError(Exception):
    """Input or config the processor cannot handle: reported as `{"error": ...}` with exit code 1."""

    def __init__(self, message: str, details: Result | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Result = details or {}


@dataclass(frozen=True)
class Context:
    """What one processor run sees: identity, the workflow input, node config and upstream outputs."""

    workflow: str | None
    node: str | None
    attempt: int | None
    input_text: str
    input_bytes: int
    input_is_utf8: bool
    config: Mapping[str, Any] = field(default_factory=dict)
    upstream: Mapping[str, str] = field(default_factory=dict)


def root_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get(ENV_ROOT) or DEFAULT_ROOT)


def termination_log_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get(ENV_TERMINATION_LOG) or DEFAULT_TERMINATION_LOG)


def strict_json_loads(text: str) -> Any:
    """Parse standard JSON only: NaN/Infinity are rejected, since they cannot be written back out as JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_context(root: Path, env: Mapping[str, str]) -> Context:
    """Read the contract files under `root`; absent input means "", absent or empty config means {}."""
    input_path = root / "input"
    raw = input_path.read_bytes() if input_path.is_file() else b""
    try:
        text, is_utf8 = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, is_utf8 = raw.decode("utf-8", errors="replace"), False
    return Context(
        workflow=env.get(ENV_WORKFLOW) or None,
        node=env.get(ENV_NODE) or None,
        attempt=_parse_attempt(env.get(ENV_ATTEMPT)),
        input_text=text,
        input_bytes=len(raw),
        input_is_utf8=is_utf8,
        config=_load_config(root / "config.json"),
        upstream=_load_upstream(root / "upstream"),
    )


def _parse_attempt(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _load_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return {}
    try:
        config = strict_json_loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProcessorError(f"config.json is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ProcessorError(f"config.json must be a JSON object, got {json_type(config)}")
    return config


def _load_upstream(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {
        path.name: path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def config_int(config: Mapping[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProcessorError(f"config.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def config_bool(config: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise ProcessorError(f"config.{key} must be true or false, got {value!r}")
    return value


def config_str_list(config: Mapping[str, Any], key: str) -> list[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProcessorError(f"config.{key} must be a list of strings, got {value!r}")
    return list(value)
