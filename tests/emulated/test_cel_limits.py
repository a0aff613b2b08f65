"""RoutingRule CEL limits against the emulated API and the real operator: admission refuses what the CRD bounds
(length, nesting the CRD rule can see); the operator marks rules that can never work `valid: false`."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.models.routing import MAX_WHEN
from switchyard.sandbox.jobsim import JobSimulator
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]

TEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
# The shape: comprehensions over literal lists nested 7 deep (6.5 s of CEL before the limits).
SEVEN_DEEP = "".join(f"{TEN}.all(v{i}, " for i in range(7)) + "v0 >= 0" + ")" * 7


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (SEVEN_DEEP, "comprehensions (all/exists/exists_one/map/filter) may be nested at most 3 deep"),
        ("true && " * (MAX_WHEN // 8) + "true", "Too long"),
    ],
    ids=["nesting", "length"],
)
def test_admission_refuses_unbounded_rules(kube: Kube, when: str, message: str) -> None:
    with pytest.raises(ApiException) as caught:
        kube.create("RoutingRule", "unbounded", {"when": when, "path": ["data-validator"]})
    assert caught.value.status == 422
    assert message in caught.value.body and "spec.when" in caught.value.body


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("input.sizee > 100", "CEL check error: unknown field input.sizee (did you mean input.size?)"),
        (
            'payload.kind == "order"',
            "CEL check error: unknown variable payload: the variables are input, params, components",
        ),
        ("input.size", "CEL check error: the expression yields an int, not bool: it can never match"),
        (
            # nested 4 deep with `)` in between: past the CRD's textual rule, caught by the operator
            "input.json.a.all(w, size(w) > 0 && w.all(x, size(x) > 0 && x.all(y, size(y) > 0 && y.all(z, z))))",
            "CEL check error: comprehensions (all/exists/exists_one/map/filter) are nested 4 deep; "
            "at most 3 are allowed",
        ),
    ],
    ids=["unknown-field", "unknown-variable", "not-bool", "nesting"],
)
def test_rules_that_can_never_work_are_invalid(kube: Kube, when: str, message: str) -> None:
    kube.create("RoutingRule", "never", {"when": when, "path": ["data-validator"]})
    status = wait_for(
        lambda: (s := kube.status("RoutingRule", "never")).get("valid") is False and s, 30, what="invalid"
    )
    assert status["message"] == message
    event = kube.wait_event("never", "InvalidExpression", timeout=30)
    assert event.type == "Warning" and event.message == message


SLOW_RULE = "input.json.items.all(a, input.json.items.all(b, input.json.items.all(c, a + b + c >= 0)))"


def test_a_rule_over_its_budget_is_skipped_and_the_operator_stays_responsive(kube: Kube, sim: JobSimulator) -> None:
    """Issue 7.14: evaluation runs off the event loop within a budget; the next rule decides the route."""
    kube.component("json-processor")
    kube.create("RoutingRule", "slow", {"priority": 10, "when": SLOW_RULE, "path": ["json-processor"]})
    kube.create("RoutingRule", "fast", {"priority": 1, "when": "input.isJson", "path": ["json-processor"]})
    wait_for(lambda: kube.status("RoutingRule", "slow").get("valid") is True, 20, what="the slow rule is valid")
    items = list(range(200))  # 200^3 = 8 million steps: far beyond the 1 s budget
    kube.create("Workflow", "routed", {"input": {"data": json.dumps({"items": items})}})
    kube.create(
        "Workflow", "bystander", {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "json-processor"}]}
    )
    kube.wait_phase("bystander", "Succeeded", timeout=30)  # not blocked behind the slow rule
    status = kube.wait_phase("routed", "Succeeded", timeout=60)
    assert status["route"]["rule"] == "fast"
    skipped = kube.wait_event("slow", "RuleSkipped")  # on the rule, naming the workflow
    assert "rule 'slow'" in skipped.message and "budget" in skipped.message and "workflow routed" in skipped.message
