"""An Open breaker turns HalfOpen at `openSeconds` by itself: status, Event and metric (issue 19.4)."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def breaker_metric(operator: OperatorProcess, namespace: str, component: str) -> float | None:
    """`switchyard_breaker_state{namespace, component}` as the operator's metrics port serves it."""
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "switchyard_breaker_state" and sample.labels == {
                "namespace": namespace,
                "component": component,
            }:
                return sample.value
    return None


def test_an_open_breaker_turns_half_open_after_open_seconds_without_a_new_run(
    running_operator: OperatorProcess, kube: Kube, sim: JobSimulator
) -> None:
    kube.component("flaky", retry={"limit": 0}, circuitBreaker={"failureThreshold": 2, "openSeconds": 3})
    sim.rule = lambda job: Outcome(succeed=False, message="backend down")
    for i in range(2):
        kube.create("Workflow", f"f{i}", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "flaky"}]})
        kube.wait_phase(f"f{i}", "Failed")
    wait_for(lambda: kube.status("Component", "flaky").get("breaker", {}).get("state") == "Open", 20, what="Open")
    wait_for(lambda: breaker_metric(running_operator, kube.namespace, "flaky") == 2, 10, what="metric says Open (2)")

    # no Workflow from here on: the open period's end alone moves the breaker
    breaker = wait_for(
        lambda: (b := kube.status("Component", "flaky")["breaker"])["state"] == "HalfOpen" and b,
        20,
        what="breaker HalfOpen after openSeconds (3 s)",
    )
    assert breaker["halfOpenRuns"] == 0 and breaker["trials"] == []
    event = wait_for(
        lambda: next((e for e in kube.events("flaky") if "Open -> HalfOpen" in (e.message or "")), None),
        10,
        what="the Open -> HalfOpen Event",
    )
    assert event.reason == "CircuitBreaker" and event.type == "Normal"
    assert event.message == "Open -> HalfOpen: open period elapsed, allowing trial runs"
    wait_for(lambda: breaker_metric(running_operator, kube.namespace, "flaky") == 1, 10, what="metric says HalfOpen")
    assert len([s for s in sim.started if s.namespace == kube.namespace]) == 2


def test_a_persisted_open_breaker_no_workflow_uses_turns_half_open_on_time(
    running_operator: OperatorProcess, kube: Kube
) -> None:
    """An Open breaker in Component status that this operator process never opened (as after a restart) is
    booked when the Component is seen, so its open period ends on time with no Workflow around."""
    kube.component("restored", circuitBreaker={"failureThreshold": 2, "openSeconds": 2})
    wait_for(lambda: kube.status("Component", "restored").get("conditions"), 20, what="the Component reconciled")
    opened = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.custom.patch_namespaced_custom_object_status(
        "switchyard.dev",
        "v1alpha1",
        kube.namespace,
        "components",
        "restored",
        {"status": {"breaker": {"state": "Open", "consecutiveFailures": 2, "openedAt": opened}}},
    )
    wait_for(
        lambda: kube.status("Component", "restored")["breaker"]["state"] == "HalfOpen",
        20,
        what="the restored breaker HalfOpen after openSeconds",
    )
    kube.wait_event("restored", "CircuitBreaker")
    wait_for(lambda: breaker_metric(running_operator, kube.namespace, "restored") == 1, 10, what="metric HalfOpen")
