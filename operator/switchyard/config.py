"""Process options of the operator (set once by `python -m switchyard`, read by the startup handler)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
LABEL_VALUE = re.compile(rf"^{_NAME}?$")


@dataclass
class Options:
    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
    shard_labels: dict[str, str] = field(default_factory=dict)  # empty: every Workflow; else only those carrying all
    metrics_port: int = 9090  # 0 disables the metrics endpoint
    health_port: int = 8081  # 0 disables the liveness endpoint
    log_format: str = "plain"
    verbose: bool = False
    kubeconfig: str | None = None
    leader_election: bool = False  # hold a coordination.k8s.io Lease while running (the chart turns it on)
    lease_name: str = "switchyard-operator"
    lease_namespace: str = "default"
    lease_duration: int = 15
    lease_renew: float = 5.0
    ingest_port: int = 0  # the CloudEvents ingest endpoint; 0 disables it
    ingest_host: str = "0.0.0.0"
    api_timeout: float = 60.0  # seconds a non-watch API call may wait for its answer before it is retried
    # artifacts: the image of the staging containers (the operator's own) and the output caps (None: no cap)
    staging_image: str = "switchyard:0.1.0"
    max_node_output_bytes: int | None = 10 * 1024**3
    max_workflow_output_bytes: int | None = 100 * 1024**3
    store_check_interval: float = 60.0  # seconds between bucket checks of a Ready ArtifactStore
    store_check_backoff_max: float = 60.0  # the longest wait between checks of an ArtifactStore that is not Ready
    artifact_gc_interval: float = 60.0  # seconds between sweeps of deleted Workflows' outputs per store; 0: off
    metrics_host: str = "0.0.0.0"  # the address /metrics binds to (the sandbox: 127.0.0.1)
    ingest_audiences: list[str] = field(default_factory=list)  # TokenReview audiences; empty: the API server's
    cel_workers: int = 2  # RoutingRule evaluator processes
    cel_worker_memory_mib: int = 128  # each one's address-space cap (RLIMIT_AS)
    allow_sidecar_injection: bool = False  # False: node Pods opt out of Istio/Linkerd/Vault agent injection
    test_clock_file: str | None = None  # tests only: the Trigger engine's time is read from this file (ISO 8601)


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


OPTIONS = Options()
