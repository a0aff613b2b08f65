"""Prometheus metrics of the operator (served by `python -m switchyard --metrics-port`)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Invalid")
BREAKER_STATES = {"Closed": 0, "HalfOpen": 1, "Open": 2}


class _PhaseGauge:
    """Workflows by phase, counted from what this process has seen (set, not incremented: restart-safe).

    Counts are kept per namespace and phase and changed by one per record (recounting every Workflow of the
    namespace at each record was O(Workflows) per Workflow event)."""

    def __init__(self) -> None:
        self.gauge = Gauge("switchyard_workflows", "Workflows by phase", ["namespace", "phase"])
        self.phases: dict[tuple[str, str], str] = {}
        self.counts: dict[tuple[str, str], int] = {}  # (namespace, phase) -> Workflows

    def record(self, namespace: str, name: str, phase: str) -> None:
        before = self.phases.get((namespace, name))
        self.phases[(namespace, name)] = phase
        if (namespace, PHASES[0]) not in self.counts:  # a namespace's first Workflow: every phase shows, at 0
            for other in PHASES:
                self._set(namespace, other, 0)
        if before != phase:
            self._move(namespace, before, phase)

    def forget(self, namespace: str, name: str) -> None:
        before = self.phases.pop((namespace, name), None)
        if before is not None:
            self._move(namespace, before, None)

    def _move(self, namespace: str, before: str | None, after: str | None) -> None:
        for phase, change in ((before, -1), (after, 1)):
            if phase is not None:
                self._set(namespace, phase, self.counts.get((namespace, phase), 0) + change)

    def _set(self, namespace: str, phase: str, count: int) -> None:
        self.counts[(namespace, phase)] = count
        self.gauge.labels(namespace, phase).set(count)


WORKFLOW_PHASE = _PhaseGauge()
JOBS_CREATED = Counter("switchyard_jobs_created", "Jobs created for workflow nodes", ["namespace"])
JOB_READS = Counter(
    "switchyard_job_reads",
    "Jobs read from the API because the watch had not shown them (unseen) or had been quiet too long (quiet)",
    ["reason"],
)
RETRIES = Counter("switchyard_node_retries", "Node attempts that failed and were scheduled to retry", ["namespace"])
NODE_DURATION = Histogram(
    "switchyard_node_duration_seconds",
    "Node run time, from its first start to its end",
    ["namespace", "phase"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
SCHEDULING_LATENCY = Histogram(
    "switchyard_scheduling_latency_seconds",
    "From seeing a node's Job succeed to its dependent's Job being created",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BREAKER_STATE = Gauge(
    "switchyard_breaker_state",
    "Circuit breaker state per component (0 Closed, 1 HalfOpen, 2 Open)",
    ["namespace", "component"],
)
COMPONENT_RUNS = Counter(
    "switchyard_component_runs",
    "Runs of a component counted in its statistics (succeeded, or failed by the component's fault)",
    ["namespace", "component"],
)
COMPONENT_FAILURES = Counter(
    "switchyard_component_failures",
    "Runs of a component that failed by its own fault (the circuit breaker's classification)",
    ["namespace", "component"],
)
COMPONENT_FAILURE_RATE = Gauge(
    "switchyard_component_failure_rate",
    "Failed share of a component's recent runs (its statistics window), 0 to 1",
    ["namespace", "component"],
)
COMPONENT_DURATION = Gauge(
    "switchyard_component_duration_seconds",
    "Run time percentiles (quantile 0.5, 0.9, 0.99) of a component's recent successful runs",
    ["namespace", "component", "quantile"],
)

ROUTING_RULE_ERRORS = Counter(
    "switchyard_routing_rule_errors",
    "Routings in which a RoutingRule failed to evaluate (e.g. a missing key) or to compile: a non-match",
    ["namespace", "rule"],
)

NOTIFY_FAILURES = Counter(
    "switchyard_notify_failures",
    "Deliveries of a Workflow's finished CloudEvent to its spec.notify sink that failed (each attempt)",
    ["namespace"],
)
NOTIFICATIONS = Counter(
    "switchyard_notifications",
    "Finished CloudEvents by outcome: delivered (a 2xx) or abandoned (retries used up, or a final answer)",
    ["namespace", "result"],
)


def forget_breaker(namespace: str, component: str) -> None:
    """The component was deleted: drop its breaker series."""
    with contextlib.suppress(KeyError):
        BREAKER_STATE.remove(namespace, component)


def forget_component_stats(namespace: str, component: str) -> None:
    """The component was deleted: drop its statistics series."""
    for metric in (COMPONENT_RUNS, COMPONENT_FAILURES, COMPONENT_FAILURE_RATE):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, component)
    for quantile in ("0.5", "0.9", "0.99"):
        with contextlib.suppress(KeyError):
            COMPONENT_DURATION.remove(namespace, component, quantile)
