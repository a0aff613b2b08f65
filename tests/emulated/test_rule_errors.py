"""A RoutingRule that fails to evaluate is a non-match: counted in a metric, one Event a minute (issue 19.12)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def rule_errors(operator: OperatorProcess, namespace: str) -> dict[str, float]:
    """`switchyard_routing_rule_errors_total` by rule, for one namespace, from the operator's metrics port."""
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        sample.labels["rule"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "switchyard_routing_rule_errors_total" and sample.labels.get("namespace") == namespace
    }


def test_a_rule_failing_on_every_input_is_counted_and_posts_one_event_a_minute(
    running_operator: OperatorProcess, kube: Kube, sim: JobSimulator
) -> None:
    kube.component("json-processor")
    kube.component("numeric-processor")
    kube.component("data-validator")
    kube.create(
        "RoutingRule", "kinds", {"priority": 10, "when": 'input.json.kind == "order"', "path": ["json-processor"]}
    )
    guarded = 'type(input.json) == map && has(input.json.kind) && input.json.kind == "order"'
    kube.create("RoutingRule", "guarded", {"priority": 5, "when": guarded, "path": ["json-processor"]})
    wait_for(
        lambda: all(kube.status("RoutingRule", r).get("valid") is True for r in ("kinds", "guarded")), 20, what="valid"
    )
    for i in range(20):
        kube.create("Workflow", f"w{i:02}", {"input": {"data": json.dumps({"id": i})}})  # no "kind" key
    for i in range(20):
        status = kube.wait_phase(f"w{i:02}", "Succeeded", "Failed", timeout=60)
        assert status["route"]["source"] == "Analysis", status["route"]
    wait_for(lambda: rule_errors(running_operator, kube.namespace) == {"kinds": 20}, 10, what="20 errors of 'kinds'")
    events = [e for e in kube.core.list_namespaced_event(kube.namespace).items if e.reason == "RuleSkipped"]
    assert len(events) == 1, [(e.involved_object.name, e.message) for e in events]
    event = events[0]
    assert (event.type, event.involved_object.kind, event.involved_object.name) == ("Warning", "RoutingRule", "kinds")
    assert event.message.startswith("rule 'kinds': CEL evaluation error: no such key: 'kind' (workflow w")
    assert (event.count or 1) == 1

    # no rule matches and analysis is off: Invalid, the skip in its message, and counted as well
    kube.create("Workflow", "strict", {"input": {"data": '{"id": 0}'}, "routing": {"analysis": False}})
    status = kube.wait_phase("strict", "Invalid")
    assert "rule 'kinds': CEL evaluation error: no such key: 'kind'" in status["message"]
    wait_for(lambda: rule_errors(running_operator, kube.namespace) == {"kinds": 21}, 10, what="21 errors of 'kinds'")
