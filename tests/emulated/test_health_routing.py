"""Health-aware routing end to end (issue 24 items 2, 3): RoutingRules reading `components.NAME.breaker`, and a
rule's `alternatives` chosen by expected cost, against the real operator with a job simulator."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def fragile(kube: Kube, component: str) -> None:
    """A component without retries whose breaker opens after two failed runs, for 300 s."""
    kube.component(component, retry={"limit": 0}, circuitBreaker={"failureThreshold": 2, "openSeconds": 300})


def open_breaker(kube: Kube, component: str) -> None:
    """Fail two runs of `component` (the simulator fails it): its breaker opens."""
    for i in range(2):
        kube.create(
            "Workflow", f"break-{i}", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": component}]}
        )
        kube.wait_phase(f"break-{i}", "Failed")
    wait_for(lambda: kube.status("Component", component).get("breaker", {}).get("state") == "Open", 20, what="Open")


class Runs:
    """The simulator's rule: the primary fails, everything else succeeds; remembers (workflow, component)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None]] = []

    def __call__(self, job: SimJob) -> Outcome:
        self.seen.append((job.workflow, job.component))
        return Outcome(succeed=job.component != "primary", message="primary down")

    def of(self, workflow: str) -> list[str | None]:
        return [component for name, component in self.seen if name == workflow]


def test_a_rule_routes_to_the_fallback_path_while_the_primary_breaker_is_open(kube: Kube, sim: JobSimulator) -> None:
    sim.rule = runs = Runs()
    kube.component("backup")
    kube.create(
        "RoutingRule",
        "primary-down",
        {"priority": 10, "when": "components.primary.breaker == 'Open'", "path": ["backup"]},
    )
    kube.create("RoutingRule", "normal", {"when": "true", "path": ["primary"]})
    kube.create("RoutingRule", "typo", {"priority": 20, "when": "components.nosuch.breaker == 'Open'", "path": ["x"]})
    fragile(kube, "primary")
    open_breaker(kube, "primary")

    kube.create("Workflow", "routed", {"input": {"data": "hello"}})
    status = kube.wait_phase("routed", "Succeeded")
    route = status["route"]
    assert (route["rule"], route["path"]) == ("primary-down", ["backup"])
    assert route["reason"] == "components.primary.breaker == 'Open' (primary.breaker=Open)"
    assert runs.of("routed") == ["backup"]  # no Job of the primary failed first
    warning = kube.wait_event("typo", "RuleSkipped")  # a Component that does not exist: no match, and why
    assert "no Component 'nosuch' in the namespace" in warning.message


def test_an_open_breaker_makes_the_second_alternative_win(kube: Kube, sim: JobSimulator) -> None:
    sim.rule = runs = Runs()
    fragile(kube, "primary")
    kube.component("backup", runtimeEstimateSeconds=30)
    kube.component("post")
    kube.create(
        "RoutingRule",
        "ocr",
        {
            "when": "input.size > 0",
            "alternatives": [
                {"path": ["primary", "post"]},
                {
                    "nodes": [
                        {"name": "b", "component": "backup"},
                        {"name": "p", "component": "post", "dependsOn": ["b"]},
                    ]
                },
            ],
        },
    )
    kube.create("Workflow", "before", {"input": {"data": "hello"}})
    first = kube.wait_phase("before", "Failed")["route"]  # the primary fails
    # nothing known of the primary (0 s) beats the backup's 30 s estimate: the first alternative runs
    assert (first["chosen"], first["path"]) == (0, ["primary", "post"])
    assert [a.get("estimateSeconds") for a in first["alternatives"]] == [0.0, 30.0]

    open_breaker(kube, "primary")
    kube.create("Workflow", "after", {"input": {"data": "hello"}})
    status = kube.wait_phase("after", "Succeeded")
    route = status["route"]
    assert (route["rule"], route["chosen"], route["path"]) == ("ocr", 1, ["backup", "post"])
    assert "estimateSeconds" not in route["alternatives"][0]  # infinite: the breaker is Open
    assert route["alternatives"][0]["detail"] == "primary: breaker Open; post: no stats: 0s"
    assert route["alternatives"][1]["estimateSeconds"] == 30.0
    assert "alternative 2 (backup->post: 30s" in route["reason"] and "breaker Open" in route["reason"]
    assert route["nodes"][0]["name"] == "b"
    assert runs.of("after") == ["backup", "post"]


def test_a_rule_reads_the_failure_rate_the_operator_observed(kube: Kube, sim: JobSimulator) -> None:
    sim.rule = runs = Runs()
    kube.component("primary", retry={"limit": 0}, circuitBreaker={"failureThreshold": 100})
    kube.component("backup")
    kube.create(
        "RoutingRule", "flaky", {"priority": 10, "when": "components.primary.failureRate > 0.4", "path": ["backup"]}
    )
    kube.create("RoutingRule", "normal", {"when": "true", "path": ["primary"]})
    kube.create("Workflow", "first", {"input": {"data": "x"}})
    assert kube.wait_phase("first", "Failed")["route"]["rule"] == "normal"  # no statistics yet: rate 0
    wait_for(
        lambda: (kube.status("Component", "primary").get("stats") or {}).get("failureRate") == 1.0,
        20,
        what="status.stats.failureRate 1.0",
    )
    kube.create("Workflow", "second", {"input": {"data": "x"}})
    route = kube.wait_phase("second", "Succeeded")["route"]
    assert (route["rule"], route["reason"]) == (
        "flaky",
        "components.primary.failureRate > 0.4 (primary.failureRate=1.0)",
    )
    assert runs.of("second") == ["backup"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"when": "true", "path": ["a"], "alternatives": [{"path": ["b"]}]},
            "a RoutingRule needs exactly one of a non-empty path, nodes or alternatives",
        ),
        ({"when": "true", "alternatives": [{}]}, "an alternative needs exactly one of a non-empty path or nodes"),
    ],
)
def test_the_api_server_refuses_alternatives_with_a_path_or_an_empty_one(
    kube: Kube, spec: dict[str, object], message: str
) -> None:
    with pytest.raises(ApiException) as refused:
        kube.create("RoutingRule", "bad", spec)
    assert refused.value.status == 422 and message in str(refused.value.body)
