"""`python -m switchyard`: run the operator (like `kopf run`) against the configured Kubernetes API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from importlib import metadata

from switchyard.config import OPTIONS, parse_shard_label
from switchyard.k8s.leader import (
    DEFAULT_LEASE_NAME,
    HealthWhileWaiting,
    LeaderLease,
    LeaseSettings,
    default_identity,
    default_namespace,
    exit_at_once,
)


def _version() -> str:
    try:
        return metadata.version("switchyard")
    except metadata.PackageNotFoundError:
        return "unknown"


class QuietEventHandlers(logging.Filter):
    """Drops kopf's "Handler 'x' succeeded." INFO line: one per watch event of every Job and Pod (thousands per
    large run, ~4 % of the operator's CPU), saying nothing; failures, daemons and activities still log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (
            record.levelno == logging.INFO
            and isinstance(message, str)
            and message.startswith("Handler '")
            and message.endswith("' succeeded.")
        )


def _shard_label(text: str) -> tuple[str, str]:
    try:
        return parse_shard_label(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


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
    parser.add_argument(
        "--shard-label",
        action="append",
        default=[],
        type=_shard_label,
        metavar="KEY=VALUE",
        help="handle only Workflows carrying this label (repeatable: all must match); default: every Workflow. "
        "Run one operator per shard, each with its own --lease-name",
    )
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port; 0 disables")
    parser.add_argument("--health-port", type=int, default=8081, help="liveness probe port (/healthz); 0 disables")
    parser.add_argument(
        "--ingest-port", type=int, default=0, help="CloudEvents ingest endpoint for Triggers; 0 (default) disables"
    )
    parser.add_argument("--ingest-host", default="0.0.0.0", help="address the ingest endpoint binds to")
    parser.add_argument("--metrics-host", default="0.0.0.0", help="address the /metrics endpoint binds to")
    parser.add_argument(
        "--ingest-audience",
        action="append",
        default=[],
        metavar="AUDIENCE",
        help="an audience the ingest callers' tokens must be for (repeatable; sent in the TokenReview); "
        "default: the API server's own",
    )
    parser.add_argument(
        "--api-timeout",
        type=_positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long an API call (not a watch) waits for its answer before it is retried; default: %(default)s",
    )
    parser.add_argument(
        "--cel-workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="processes that evaluate RoutingRules (each up to --cel-worker-memory); default: %(default)s",
    )
    parser.add_argument(
        "--cel-worker-memory",
        type=_positive_int,
        default=128,
        metavar="MIB",
        help="address-space cap (RLIMIT_AS) of each CEL worker, in MiB; workers x this + the operator's own "
        "memory must fit the container's limit; default: %(default)s",
    )
    parser.add_argument(
        "--allow-sidecar-injection",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="let mesh and secret injectors (Istio, Linkerd, Vault agent) add containers to node Pods; default: "
        "off (the Pods opt out: a sidecar keeps a Pod running after its processor exits)",
    )
    parser.add_argument("--log-format", choices=["plain", "json"], default="plain")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG or in-cluster")
    parser.add_argument("-v", "--verbose", action="store_true")
    election = parser.add_argument_group(
        "leader election",
        "hold a coordination.k8s.io/v1 Lease while running: a second replica waits until the Lease is free; "
        "one that loses it exits at once (give each shard its own --lease-name)",
    )
    election.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run only while holding the Lease (default: off; the Helm chart turns it on)",
    )
    election.add_argument("--lease-name", default=DEFAULT_LEASE_NAME, help="default: %(default)s")
    election.add_argument(
        "--lease-namespace", default=None, help="default: $POD_NAMESPACE, else 'default' (the Lease's namespace)"
    )
    election.add_argument("--lease-identity", default=None, help="default: $POD_NAME, else <hostname>-<pid>")
    election.add_argument("--lease-duration", type=int, default=15, help="seconds; default: %(default)s")
    election.add_argument("--lease-renew", type=float, default=5.0, help="renew every N seconds; default: %(default)s")
    artifacts = parser.add_argument_group("artifacts", "node inputs and outputs passed through an ArtifactStore")
    artifacts.add_argument(
        "--staging-image",
        default=os.environ.get("SWITCHYARD_STAGING_IMAGE", "switchyard:0.1.0"),
        help="image of the stage-in/stage-out containers, the operator's own (default: $SWITCHYARD_STAGING_IMAGE "
        "or %(default)s)",
    )
    artifacts.add_argument(
        "--max-node-output-bytes",
        type=int,
        default=10 * 1024**3,
        help="a node writing more under outputs/ fails (OutputTooLarge); 0: no cap; default: %(default)s (10 GiB)",
    )
    artifacts.add_argument(
        "--max-workflow-output-bytes",
        type=int,
        default=100 * 1024**3,
        help="the node taking a Workflow's artifacts past this fails (OutputTooLarge); 0: no cap; default: "
        "%(default)s (100 GiB)",
    )
    parser.add_argument(
        "--store-check-interval", type=float, default=60.0,
        help="seconds between bucket checks of a Ready ArtifactStore; default: %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--store-check-backoff-max", type=float, default=60.0,
        help="longest wait (seconds) between checks of an ArtifactStore that is not Ready; default: %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--artifact-gc-interval", type=float, default=60.0,
        help="seconds between sweeps deleting deleted Workflows' outputs from each Ready ArtifactStore; 0: off; "
        "default: %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--test-clock-file", default=None,
        help="TESTS ONLY: Trigger schedules and batches read the time (ISO 8601) from this file, the real clock "
        "while it is absent or empty",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"switchyard-operator {_version()}")
    args = parser.parse_args(argv)
    if args.leader_election and not 0 < args.lease_renew < args.lease_duration * 2 / 3:
        parser.error("--lease-renew must be positive and below two thirds of --lease-duration")
    return args


def lease_settings(args: argparse.Namespace) -> LeaseSettings:
    return LeaseSettings(
        name=args.lease_name,
        namespace=args.lease_namespace or default_namespace(),
        identity=args.lease_identity or default_identity(),
        duration=args.lease_duration,
        renew_every=args.lease_renew,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OPTIONS.namespaces = args.namespace
    OPTIONS.shard_labels = dict(args.shard_label)
    OPTIONS.metrics_port = args.metrics_port
    OPTIONS.health_port = args.health_port
    OPTIONS.log_format = args.log_format
    OPTIONS.verbose = args.verbose
    OPTIONS.kubeconfig = args.kubeconfig
    OPTIONS.leader_election = args.leader_election
    OPTIONS.lease_name = args.lease_name
    OPTIONS.lease_namespace = args.lease_namespace or default_namespace()
    OPTIONS.lease_duration = args.lease_duration
    OPTIONS.lease_renew = args.lease_renew
    OPTIONS.ingest_port = args.ingest_port
    OPTIONS.ingest_host = args.ingest_host
    OPTIONS.api_timeout = args.api_timeout
    OPTIONS.staging_image = args.staging_image
    OPTIONS.max_node_output_bytes = args.max_node_output_bytes or None
    OPTIONS.max_workflow_output_bytes = args.max_workflow_output_bytes or None
    OPTIONS.store_check_interval = args.store_check_interval
    OPTIONS.store_check_backoff_max = args.store_check_backoff_max
    OPTIONS.artifact_gc_interval = args.artifact_gc_interval
    OPTIONS.metrics_host = args.metrics_host
    OPTIONS.ingest_audiences = args.ingest_audience
    OPTIONS.cel_workers = args.cel_workers
    OPTIONS.cel_worker_memory_mib = args.cel_worker_memory
    OPTIONS.allow_sidecar_injection = args.allow_sidecar_injection
    OPTIONS.test_clock_file = args.test_clock_file
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it

    import kopf

    import switchyard.handlers  # noqa: F401  (registers the handlers)
    from switchyard.handlers.workflows import SHARD, shard_filter
    from switchyard.kopfcompat import Insights  # kopf.run(insights=...) is public, its type is not

    if shard_filter() != SHARD:  # the shard's label filter is fixed when the handlers are registered
        raise RuntimeError("switchyard.handlers was imported before the options were set")

    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=args.verbose, log_format=log_format)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    if not args.verbose:
        logging.getLogger("kopf.objects").addFilter(QuietEventHandlers())
    if (problem := refuse_unservable_namespaces(args)) is not None:
        print(f"switchyard-operator: error: {problem}", file=sys.stderr, flush=True)
        return 2
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    lease = acquire_leadership(args) if args.leader_election else None
    # kopf's view of the served namespaces, shared with our own namespace watch (k8s/namespaces.py)
    memo = kopf.Memo(insights=Insights())
    try:
        with event_loop() as loop:
            kopf.run(
                loop=loop,
                standalone=True,  # no kopf peering: equal-priority peers all freeze; the Lease elects one instead
                clusterwide=not args.namespace,
                namespaces=args.namespace,
                liveness_endpoint=liveness,
                memo=memo,
                insights=memo.insights,
            )
    finally:
        if lease is not None:
            lease.release()
    return 0


@contextlib.contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop | None]:
    """uvloop's event loop when it is installed (a dependency on Linux and macOS), as `kopf run` does; else
    None, for kopf's default (`asyncio.run`). uvloop's loop, futures and thread hand-offs are in C: the operator
    took ~7 % less CPU per Job with it (docs/benchmarks.md)."""
    try:
        import uvloop
    except ImportError:
        yield None
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        yield runner.get_loop()


def refuse_unservable_namespaces(args: argparse.Namespace) -> str | None:
    """Namespace patterns with only namespaced RBAC would 403 forever: the reason to stop, before anything runs."""
    from switchyard.k8s.client import load_config
    from switchyard.k8s.informer import exact_names
    from switchyard.k8s.namespaces import pattern_scope_problem

    if not args.namespace or exact_names(args.namespace):
        return None
    api_client = load_config(args.kubeconfig)
    try:
        return pattern_scope_problem(api_client, args.namespace)
    finally:
        api_client.close()


def acquire_leadership(args: argparse.Namespace) -> LeaderLease:
    """Wait for the Lease before any handler can start, then keep it renewed; losing it ends the process."""
    from kubernetes import client

    from switchyard.k8s.client import load_config

    lease = LeaderLease(client.CoordinationV1Api(load_config(args.kubeconfig)), lease_settings(args))
    with HealthWhileWaiting(args.health_port):
        lease.acquire()
    lease.start_renewing(exit_at_once)
    return lease


if __name__ == "__main__":
    sys.exit(main())
