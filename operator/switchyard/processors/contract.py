"""The file contract a processor sees inside its Job: input, config, upstream data, outputs and identity env.

All paths are under the root `/switchyard` (`SWITCHYARD_ROOT` moves it, for tests, benchmarks and the
sandbox). `load_context` only looks at the tree (names and sizes); processors read the data as streams.

- `input`: the Workflow's input as a file, of any size; absent means empty.
- `config.json`: the node's merged config (a JSON object); absent or blank means `{}`.
- `upstream/<node>`, one entry per dependency, in one of two shapes:
  - a regular file: that dependency's result (the JSON preview of its termination message); it passed no
    artifacts. This is the shape of an operator that passes results only.
  - a directory: every regular file below it, at any depth, is one of the dependency's artifacts, named
    by its path relative to the directory (`chunk-00000`, `part/a.csv`). The dependency's result, when it
    is given, is then the file `upstream/<node>.result.json` beside the directory (node names are DNS
    labels, so a name with a dot never is a node). Names starting with `..` (the kubelet's bookkeeping
    in ConfigMap volumes) and symlinks to directories are skipped.
- `item`: a forEach instance's item (JSON text); absent for other nodes. `item.data`: when the item is an
  output artifact of the forEach's `fromNode` (`{"name", "key", "size", "digest"}`), that artifact's bytes.
  A forEach dependency is a directory `upstream/<node>/` of `results.json` (the array of its instances'
  results) and `<i>/result` per instance, and with an artifact store each instance's artifacts at
  `<i>/<name>` (an artifact named `result` takes the result file's place).
- `outputs/`: when this directory exists (the operator mounts it writable), every file a processor
  writes below it is an artifact of the node; when it does not, a processor writes no files and reports
  its preview only.

The data a processor works on (`Context.sources`): with config `from: auto` (the default), the upstream
artifacts when any dependency passed some, in the order (dependency, artifact name); otherwise the input.
`from: input` and `from: upstream` choose one explicitly; `from: item` works on a forEach instance's item
(its `item.data` when there is one).
"""

from __future__ import annotations

import io
import json
import os
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
INPUT_NAME = "input"
OUTPUTS_DIR = "outputs"
UPSTREAM_DIR = "upstream"
RESULT_SUFFIX = ".result.json"
# A dependency's result is a termination message (at most 4 KiB); more than this is not a result.
MAX_RESULT_READ = 1 << 20
ITEM_NAME = "item"
ITEM_DATA_NAME = "item.data"
SOURCE_MODES = ("auto", "input", "upstream", "item")


class ProcessorError(Exception):
    """Input or config the processor cannot handle: reported as `{"error": ...}` with exit code 1."""

    def __init__(self, message: str, details: Result | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Result = details or {}


@dataclass(frozen=True)
class Source:
    """One file of data: the input (`name` "input") or an upstream artifact (`name` "<node>/<artifact>")."""

    name: str
    path: Path
    size: int

    def open(self) -> Any:
        """The file opened for binary reading (the caller closes it); an absent input reads as empty."""
        if self.name == INPUT_NAME and not self.path.is_file():
            return io.BytesIO(b"")
        return self.path.open("rb")


@dataclass(frozen=True)
class Upstream:
    """One dependency: its result text (None when not given) and its artifacts (empty when it passed none)."""

    node: str
    result: str | None
    artifacts: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Context:
    """What one processor run sees: identity, the input, node config, upstream data and the outputs dir."""

    workflow: str | None
    node: str | None
    attempt: int | None
    input: Source
    config: Mapping[str, Any] = field(default_factory=dict)
    upstream: Mapping[str, Upstream] = field(default_factory=dict)
    outputs_dir: Path | None = None
    item: Source | None = None  # a forEach instance's item
    item_data: Source | None = None  # ... the bytes of the artifact it names (a forEach over artifacts)

    @property
    def input_bytes(self) -> int:
        return self.input.size

    @property
    def upstream_artifacts(self) -> tuple[Source, ...]:
        return tuple(artifact for dep in self.upstream.values() for artifact in dep.artifacts)

    @property
    def sources(self) -> tuple[Source, ...]:
        """The data to work on, following config `from` (see the module docstring)."""
        mode = self.config.get("from", "auto")
        if mode not in SOURCE_MODES:
            raise ProcessorError(f"config.from must be one of {', '.join(SOURCE_MODES)}, got {mode!r}")
        if mode == "item":
            if self.item is None:
                raise ProcessorError("config.from is item, but this run has no item (it is not a forEach instance)")
            return (self.item_data or self.item,)
        artifacts = self.upstream_artifacts
        if mode == "upstream" or (mode == "auto" and artifacts):
            return artifacts
        return (self.input,)


def root_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get(ENV_ROOT) or DEFAULT_ROOT)


def termination_log_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get(ENV_TERMINATION_LOG) or DEFAULT_TERMINATION_LOG)


def strict_json_loads(text: str | bytes) -> Any:
    """Parse standard JSON only: NaN/Infinity are rejected, since they cannot be written back out as JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_context(root: Path, env: Mapping[str, str]) -> Context:
    """Look at the contract tree under `root`; only config.json and upstream results are read here."""
    input_path = root / INPUT_NAME
    size = input_path.stat().st_size if input_path.is_file() else 0
    outputs = root / OUTPUTS_DIR
    item_path = root / ITEM_NAME
    data_path = root / ITEM_DATA_NAME
    return Context(
        workflow=env.get(ENV_WORKFLOW) or None,
        node=env.get(ENV_NODE) or None,
        attempt=_parse_attempt(env.get(ENV_ATTEMPT)),
        input=Source(INPUT_NAME, input_path, size),
        config=_load_config(root / "config.json"),
        upstream=load_upstream(root / UPSTREAM_DIR),
        outputs_dir=outputs if outputs.is_dir() else None,
        item=Source(ITEM_NAME, item_path, item_path.stat().st_size) if item_path.is_file() else None,
        item_data=Source(ITEM_DATA_NAME, data_path, data_path.stat().st_size) if data_path.is_file() else None,
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


def load_upstream(directory: Path) -> dict[str, Upstream]:
    """Every dependency under `directory`, by node name, in name order (the rule is in the module docstring)."""
    if not directory.is_dir():
        return {}
    upstream: dict[str, Upstream] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or "." in path.name:
            continue  # kubelet bookkeeping, or a `<node>.result.json` companion (read with its directory)
        if path.is_file():
            upstream[path.name] = Upstream(path.name, _read_result(path))
        elif path.is_dir():
            companion = directory / (path.name + RESULT_SUFFIX)
            result = _read_result(companion) if companion.is_file() else None
            upstream[path.name] = Upstream(path.name, result, _artifacts(path.name, path))
    return upstream


def _read_result(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(MAX_RESULT_READ).decode("utf-8", errors="replace")


def _artifacts(node: str, directory: Path) -> tuple[Source, ...]:
    found: list[Source] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(name for name in dirs if not name.startswith(".."))
        base = Path(current)
        for name in files:
            if name.startswith(".."):
                continue
            path = base / name
            if path.is_file():
                relative = path.relative_to(directory).as_posix()
                found.append(Source(f"{node}/{relative}", path, path.stat().st_size))
    return tuple(sorted(found, key=lambda source: source.name))


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


def config_choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    """A string config value from `choices`; the first choice is the default."""
    value = config.get(key, choices[0])
    if value not in choices:
        raise ProcessorError(f"config.{key} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def config_str_list(config: Mapping[str, Any], key: str) -> list[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProcessorError(f"config.{key} must be a list of strings, got {value!r}")
    return list(value)
