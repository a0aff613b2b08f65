"""The `switchyard` command: developer tools around the operator (`switchyard dev` runs the sandbox).

Subcommands register in ``build_parser``; each imports its module lazily, so one with optional dependencies
(the sandbox needs the ``sandbox`` extra) does not break the others.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence


def _dev(args: argparse.Namespace) -> int:
    try:
        from switchyard.sandbox import dev
    except ImportError as e:
        print(f"switchyard dev needs the sandbox extra (pip install 'switchyard[sandbox]'): {e}", file=sys.stderr)
        return 2
    examples = None if args.no_examples else (args.examples or dev.REPO_EXAMPLES)
    if examples is not None and not examples.is_dir():
        print(
            f"switchyard dev: no examples directory {examples} (use --examples DIR or --no-examples)", file=sys.stderr
        )
        return 2
    options = dev.Options(
        dir=args.dir,
        examples=examples,
        timeout=args.timeout,
        keep_running=args.keep_running,
        ingest_port=args.ingest_port,
    )
    return dev.run(options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev",
        help="run the sandbox: an emulated Kubernetes API, the real operator and a local job runner",
        description="Start an in-memory Kubernetes API emulator (not a cluster), the operator and a local job "
        "runner; create the built-in Components, apply the examples and show the Workflows until they finish. "
        "Exit 0 when every Workflow labelled switchyard.dev/expect: Succeeded succeeded.",
    )
    dev.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(".sandbox"), help="kubeconfig and logs")
    dev.add_argument("--examples", type=pathlib.Path, help="directory of YAML to apply (default: manifests/examples)")
    dev.add_argument("--no-examples", action="store_true", help="apply nothing (implies --keep-running)")
    dev.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the examples (default 120)")
    dev.add_argument("--ingest-port", type=int, default=0, help="port of the CloudEvents ingest endpoint (0: free)")
    dev.add_argument("--keep-running", action="store_true", help="stay up after the examples until Ctrl-C")
    dev.set_defaults(handler=_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
