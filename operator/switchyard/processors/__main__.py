"""Command line entry point: `python -m switchyard.processors <name>` inside a Job container."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from switchyard.processors.contract import Result, termination_log_from_env
from switchyard.processors.output import render_result, write_termination_log
from switchyard.processors.registry import EXIT_FAILED, PROCESSORS, run, unknown_processor_message

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchyard.processors",
        description="Run a built-in Switchyard processor against the /switchyard file contract.",
    )
    parser.add_argument("name", help=f"processor to run: {', '.join(PROCESSORS)}")
    args = parser.parse_args(argv)
    name: str = args.name
    if name not in PROCESSORS:
        message = unknown_processor_message(name)
        _emit({"error": message, "processor": name}, to_stdout=False)
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        code, result = run(name)
    except Exception as exc:
        # A bug, not bad input: still leave a termination message so the operator can show what happened.
        traceback.print_exc()
        code, result = EXIT_FAILED, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        result["processor"] = name
    _emit(result)
    return code


def _emit(result: Result, to_stdout: bool = True) -> None:
    text = render_result(result)
    if to_stdout:
        print(text)
    path = termination_log_from_env(os.environ)
    try:
        write_termination_log(path, text)
    except OSError as exc:
        print(f"warning: could not write termination log {path}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
