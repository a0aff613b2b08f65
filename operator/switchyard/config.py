"""The operator's options: one frozen `Options`, built once from the command line by `Options.from_args()`.

Each field is declared once, with its default and its flag (`_flag`): the parser is built from the fields and
the parsed values become the fields, so a flag, its default and the option it sets cannot drift apart.
`python -m switchyard` builds the options and hands them to `switchyard.handlers.register`; nothing reads
them from a global.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import MappingProxyType
from typing import Any, Self

_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
LABEL_VALUE = re.compile(rf"^{_NAME}?$")

DEFAULT_LEASE_NAME = "switchyard-operator"
GiB = 1024**3


def parse_shard_label(text: str) -> tuple[str, str]:
    """`KEY=VALUE` -> (key, value), both valid Kubernetes label syntax; ValueError otherwise."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r} is not KEY=VALUE")
    if len(key.rpartition("/")[0]) > 253 or not LABEL_KEY.match(key):
        raise ValueError(f"{key!r} is not a label key")
    if not LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a label value (<= 63 alphanumerics, '-', '_', '.')")
    return key, value


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


def _no_cap_when_zero(value: int) -> int | None:
    return value or None


def _labels(pairs: Sequence[tuple[str, str]] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(pairs or ()))


def _strings(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(values or ())


@dataclass(frozen=True)
class Flag:
    """How one option is spelled on the command line (the rest of `add_argument`'s arguments)."""

    names: tuple[str, ...]
    help: str | None = None
    group: str | None = None  # a heading of `--help` (GROUPS)
    env: str | None = None  # the default comes from this environment variable when it is set
    finish: Callable[[Any], Any] | None = None  # the parsed value -> the option's value
    arguments: Mapping[str, Any] = field(default_factory=dict)  # type, action, metavar, choices


def _flag(default: Any, *names: str, help: str | None = None, group: str | None = None, env: str | None = None,
          finish: Callable[[Any], Any] | None = None, **arguments: Any) -> Any:  # fmt: skip
    """A field of `Options`: its default and its flag. A repeatable flag (`action="append"`) has no default of
    its own: `finish` turns what was given (None when nothing was) into the field's value."""
    flag = Flag(names, help, group, env, finish, arguments)
    if arguments.get("action") == "append":
        return field(default_factory=lambda: finish(None) if finish else (), metadata={"flag": flag})
    return field(default=default, metadata={"flag": flag})


GROUPS = {
    "leader election": "hold a coordination.k8s.io/v1 Lease while running: a second replica waits until the Lease "
    "is free; one that loses it exits at once (give each shard its own --lease-name)",
    "artifacts": "node inputs and outputs passed through an ArtifactStore",
}


@dataclass(frozen=True)
class Options:
    """Everything the operator is told on its command line (`python -m switchyard --help`)."""

    namespaces: tuple[str, ...] = _flag(
        (), "-n", "--namespace", action="append", metavar="NS", finish=_strings,
        help="watch this namespace (repeatable); default: all namespaces",
    )  # fmt: skip
    # empty: every Workflow; else only those carrying all these labels
    shard_labels: Mapping[str, str] = _flag(
        None, "--shard-label", action="append", type=_shard_label, metavar="KEY=VALUE", finish=_labels,
        help="handle only Workflows carrying this label (repeatable: all must match); default: every Workflow. "
        "Run one operator per shard, each with its own --lease-name",
    )  # fmt: skip
    metrics_port: int = _flag(9090, "--metrics-port", type=int, help="Prometheus /metrics port; 0 disables")
    health_port: int = _flag(8081, "--health-port", type=int, help="liveness probe port (/healthz); 0 disables")
    ingest_port: int = _flag(
        0, "--ingest-port", type=int, help="CloudEvents ingest endpoint for Triggers; 0 (default) disables"
    )
    ingest_host: str = _flag("0.0.0.0", "--ingest-host", help="address the ingest endpoint binds to")
    ingest_loop: str = _flag(
        "thread", "--ingest-loop", choices=("thread", "shared"),
        help="where the ingest endpoint and the Trigger engine run: 'thread' (default), an event loop of their own "
        "with their own API client, so Workflow handling cannot delay an answer; 'shared', the operator's loop",
    )  # fmt: skip
    metrics_host: str = _flag("0.0.0.0", "--metrics-host", help="address the /metrics endpoint binds to")
    # TokenReview audiences; empty: the API server's own
    ingest_audiences: tuple[str, ...] = _flag(
        (), "--ingest-audience", action="append", metavar="AUDIENCE", finish=_strings,
        help="an audience the ingest callers' tokens must be for (repeatable; sent in the TokenReview); "
        "default: the API server's own",
    )  # fmt: skip
    api_timeout: float = _flag(
        60.0, "--api-timeout", type=_positive_seconds, metavar="SECONDS",
        help="how long an API call (not a watch) waits for its answer before it is retried; default: %(default)s",
    )  # fmt: skip
    cel_workers: int = _flag(
        2, "--cel-workers", type=_positive_int, metavar="N",
        help="processes that evaluate RoutingRules (each up to --cel-worker-memory); default: %(default)s",
    )  # fmt: skip
    cel_worker_memory_mib: int = _flag(
        128, "--cel-worker-memory", type=_positive_int, metavar="MIB",
        help="address-space cap (RLIMIT_AS) of each CEL worker, in MiB; workers x this + the operator's own "
        "memory must fit the container's limit; default: %(default)s",
    )  # fmt: skip
    allow_sidecar_injection: bool = _flag(
        False, "--allow-sidecar-injection", action=argparse.BooleanOptionalAction,
        help="let mesh and secret injectors (Istio, Linkerd, Vault agent) add containers to node Pods; default: "
        "off (the Pods opt out: a sidecar keeps a Pod running after its processor exits)",
    )  # fmt: skip
    log_format: str = _flag("plain", "--log-format", choices=["plain", "json"])
    kubeconfig: str | None = _flag(None, "--kubeconfig", env="KUBECONFIG", help="default: $KUBECONFIG or in-cluster")
    verbose: bool = _flag(False, "-v", "--verbose", action="store_true")

    leader_election: bool = _flag(
        False, "--leader-election", group="leader election", action=argparse.BooleanOptionalAction,
        help="run only while holding the Lease (default: off; the Helm chart turns it on)",
    )  # fmt: skip
    lease_name: str = _flag(DEFAULT_LEASE_NAME, "--lease-name", group="leader election", help="default: %(default)s")
    # None: the Pod's namespace (`k8s.leader.default_namespace`)
    lease_namespace: str | None = _flag(
        None, "--lease-namespace", group="leader election",
        help="default: $POD_NAMESPACE, else 'default' (the Lease's namespace)",
    )  # fmt: skip
    # None: the Pod's name (`k8s.leader.default_identity`)
    lease_identity: str | None = _flag(
        None, "--lease-identity", group="leader election", help="default: $POD_NAME, else <hostname>-<pid>"
    )
    lease_duration: int = _flag(
        15, "--lease-duration", group="leader election", type=int, help="seconds; default: %(default)s"
    )
    lease_renew: float = _flag(
        5.0, "--lease-renew", group="leader election", type=float, help="renew every N seconds; default: %(default)s"
    )

    staging_image: str = _flag(
        "switchyard:0.1.0", "--staging-image", group="artifacts", env="SWITCHYARD_STAGING_IMAGE",
        help="image of the stage-in/stage-out containers, the operator's own (default: $SWITCHYARD_STAGING_IMAGE "
        "or %(default)s)",
    )  # fmt: skip
    # None: no cap (the flag's 0)
    max_node_output_bytes: int | None = _flag(
        10 * GiB, "--max-node-output-bytes", group="artifacts", type=int, finish=_no_cap_when_zero,
        help="a node writing more under outputs/ fails (OutputTooLarge); 0: no cap; default: %(default)s (10 GiB)",
    )  # fmt: skip
    max_workflow_output_bytes: int | None = _flag(
        100 * GiB, "--max-workflow-output-bytes", group="artifacts", type=int, finish=_no_cap_when_zero,
        help="the node taking a Workflow's artifacts past this fails (OutputTooLarge); 0: no cap; default: "
        "%(default)s (100 GiB)",
    )  # fmt: skip
    store_check_interval: float = _flag(
        60.0, "--store-check-interval", type=float,
        help="seconds between bucket checks of a Ready ArtifactStore; default: %(default)s",
    )  # fmt: skip
    store_check_backoff_max: float = _flag(
        60.0, "--store-check-backoff-max", type=float,
        help="longest wait (seconds) between checks of an ArtifactStore that is not Ready; default: %(default)s",
    )  # fmt: skip
    artifact_gc_interval: float = _flag(
        60.0, "--artifact-gc-interval", type=float,
        help="seconds between sweeps deleting deleted Workflows' outputs from each Ready ArtifactStore; 0: off; "
        "default: %(default)s",
    )  # fmt: skip
    test_clock_file: str | None = _flag(
        None, "--test-clock-file",
        help="TESTS ONLY: Trigger schedules and batches read the time (ISO 8601) from this file, the real clock "
        "while it is absent or empty",
    )  # fmt: skip

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """The operator's command line, one flag per field (defaults from the fields, or their env variable)."""
        parser = argparse.ArgumentParser(
            prog="switchyard-operator",
            description="Switchyard operator: route data and run workflow DAGs as Kubernetes Jobs.",
        )
        groups = {title: parser.add_argument_group(title, description) for title, description in GROUPS.items()}
        for option in dataclasses.fields(cls):
            flag: Flag = option.metadata["flag"]
            default = None if flag.arguments.get("action") == "append" else option.default
            if flag.env is not None:
                default = os.environ.get(flag.env, default)
            where = groups[flag.group] if flag.group is not None else parser
            where.add_argument(*flag.names, dest=option.name, default=default, help=flag.help, **flag.arguments)
        parser.add_argument("--version", action="version", version=f"switchyard-operator {_version()}")
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> Self:
        """The options of this command line (`sys.argv` when None); exits with a usage error on a bad one."""
        parser = cls.parser()
        parsed = vars(parser.parse_args(argv))
        values: dict[str, Any] = {}
        for option in dataclasses.fields(cls):
            finish = option.metadata["flag"].finish
            values[option.name] = finish(parsed[option.name]) if finish is not None else parsed[option.name]
        options = cls(**values)
        if options.leader_election and not 0 < options.lease_renew < options.lease_duration * 2 / 3:
            parser.error("--lease-renew must be positive and below two thirds of --lease-duration")
        return options


def _version() -> str:
    try:
        return metadata.version("switchyard")
    except metadata.PackageNotFoundError:
        return "unknown"
