"""`python -m switchyard`: run the operator (like `kopf run`) against the configured Kubernetes API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import metadata

from switchyard.config import OPTIONS


def _version() -> str:
    try:
        return metadata.version("switchyard")
    except metadata.PackageNotFoundError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="switchyard-operator",
        description="Switchyard operator: route data and run workflow DAGs as Kubernetes Jobs.",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port; 0 disables")
    parser.add_argument("--health-port", type=int, default=8081, help="liveness probe port (/healthz); 0 disables")
    parser.add_argument("--log-format", choices=["plain", "json"], default="plain")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG or in-cluster")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"switchyard-operator {_version()}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OPTIONS.namespaces = args.namespace
    OPTIONS.metrics_port = args.metrics_port
    OPTIONS.health_port = args.health_port
    OPTIONS.log_format = args.log_format
    OPTIONS.verbose = args.verbose
    OPTIONS.kubeconfig = args.kubeconfig
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it

    import kopf

    import switchyard.handlers  # noqa: F401  (registers the handlers)

    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=args.verbose, log_format=log_format)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    kopf.run(
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
