"""RoutingRule CEL limits against the emulated API and the real operator: admission refuses what the CRD bounds
(length, nesting the CRD rule can see); the operator marks rules that can never work `valid: false`."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.models.routing import MAX_WHEN
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
        ('payload.kind == "order"', "CEL check error: unknown variable payload: the only variable is input"),
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
