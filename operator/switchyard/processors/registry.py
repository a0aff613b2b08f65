"""The processor registry and `run`: load the contract, call one processor, turn its outcome into a result."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from switchyard.processors import chunking_processor, data_validator, json_processor, numeric_processor
from switchyard.processors.contract import (
    ENV_NODE,
    ENV_WORKFLOW,
    Context,
    ProcessorError,
    Result,
    load_context,
    root_from_env,
)

EXIT_OK = 0
EXIT_FAILED = 1

Processor = Callable[[Context], Result]

PROCESSORS: Mapping[str, Processor] = {
    "json-processor": json_processor.process,
    "chunking-processor": chunking_processor.process,
    "numeric-processor": numeric_processor.process,
    "data-validator": data_validator.process,
}


def unknown_processor_message(name: str) -> str:
    return f"unknown processor {name!r}; valid names: {', '.join(PROCESSORS)}"


def run(name: str, root: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[int, Result]:
    """Run processor `name` against the contract under `root` (default: from env) -> (exit code, result).

    Bad input or config gives exit code 1 and an `{"error": ...}` result; the result is not yet size-capped.
    """
    if name not in PROCESSORS:
        raise ValueError(unknown_processor_message(name))
    env = os.environ if env is None else env
    root = root_from_env(env) if root is None else root
    identity: Result = {
        "processor": name,
        "node": env.get(ENV_NODE) or None,
        "workflow": env.get(ENV_WORKFLOW) or None,
    }
    try:
        ctx = load_context(root, env)
        identity["attempt"] = ctx.attempt
        return EXIT_OK, {**identity, **PROCESSORS[name](ctx)}
    except ProcessorError as exc:
        return EXIT_FAILED, {"error": exc.message, **identity, **exc.details}
