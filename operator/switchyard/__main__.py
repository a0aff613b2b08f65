"""`python -m switchyard`: run the operator (like `kopf run`) against the configured Kubernetes API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from switchyard.config import Options
from switchyard.k8s.leader import (
    HealthWhileWaiting,
    LeaderLease,
    LeaseSettings,
    default_identity,
    default_namespace,
    exit_at_once,
)


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


def lease_settings(options: Options) -> LeaseSettings:
    return LeaseSettings(
        name=options.lease_name,
        namespace=options.lease_namespace or default_namespace(),
        identity=options.lease_identity or default_identity(),
        duration=options.lease_duration,
        renew_every=options.lease_renew,
    )


def main(argv: list[str] | None = None) -> int:
    options = Options.from_args(argv)
    if options.kubeconfig:
        os.environ["KUBECONFIG"] = options.kubeconfig  # kopf's own login reads it

    import kopf

    from switchyard.handlers import register
    from switchyard.kopfcompat import Insights  # kopf.run(insights=...) is public, its type is not

    log_format = kopf.LogFormat.JSON if options.log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=options.verbose, log_format=log_format)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    if not options.verbose:
        logging.getLogger("kopf.objects").addFilter(QuietEventHandlers())
    if (problem := refuse_unservable_namespaces(options)) is not None:
        print(f"switchyard-operator: error: {problem}", file=sys.stderr, flush=True)
        return 2
    # kopf's view of the served namespaces, shared with our own namespace watch (k8s/namespaces.py)
    insights = Insights()
    registry = kopf.get_default_registry()  # kopf's own login handlers (the kubernetes client's config) are in it
    register(registry, options, insights)
    liveness = f"http://0.0.0.0:{options.health_port}/healthz" if options.health_port else None
    lease = acquire_leadership(options) if options.leader_election else None
    try:
        with event_loop() as loop:
            kopf.run(
                loop=loop,
                registry=registry,
                standalone=True,  # no kopf peering: equal-priority peers all freeze; the Lease elects one instead
                clusterwide=not options.namespaces,
                namespaces=options.namespaces,
                liveness_endpoint=liveness,
                memo=kopf.Memo(),
                insights=insights,
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


def refuse_unservable_namespaces(options: Options) -> str | None:
    """Namespace patterns with only namespaced RBAC would 403 forever: the reason to stop, before anything runs."""
    from switchyard.k8s.client import load_config
    from switchyard.k8s.informer import exact_names
    from switchyard.k8s.namespaces import pattern_scope_problem

    namespaces = list(options.namespaces)
    if not namespaces or exact_names(namespaces):
        return None
    api_client = load_config(options.kubeconfig)
    try:
        return pattern_scope_problem(api_client, namespaces)
    finally:
        api_client.close()


def acquire_leadership(options: Options) -> LeaderLease:
    """Wait for the Lease before any handler can start, then keep it renewed; losing it ends the process."""
    from kubernetes import client

    from switchyard.k8s.client import load_config

    lease = LeaderLease(client.CoordinationV1Api(load_config(options.kubeconfig)), lease_settings(options))
    with HealthWhileWaiting(options.health_port):
        lease.acquire()
    lease.start_renewing(exit_at_once)
    return lease


if __name__ == "__main__":
    sys.exit(main())
