"""Process options of the operator (set once by `python -m switchyard`, read by the startup handler)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Options:
    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
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


OPTIONS = Options()
