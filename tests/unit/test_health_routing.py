"""Unit tests of health-aware routing: `logic.health` (status accessor, expected costs), the `components`
variable in `logic.celcheck`, and `logic.routing` / `celpool.route_input` with health facts and alternatives."""

from __future__ import annotations

import asyncio
import math

import pytest

from switchyard.celpool import RuleEvaluatorPool, route_input
from switchyard.k8s.prepare import route_status, routed_nodes
from switchyard.logic.analysis import analyse_input
from switchyard.logic.celcheck import check_static
from switchyard.logic.dag import Dag
from switchyard.logic.health import (
    ComponentHealth,
    alternative_cost,
    cheapest,
    component_cost,
    expected_attempts,
    from_status,
)
from switchyard.logic.routing import compile_rule, component_facts, component_names, health_wanted, route
from switchyard.models.component import ComponentStatus
from switchyard.models.routing import Alternative, RoutingRuleSpec, RuleNodeSpec
from switchyard.models.stats import ComponentStats, DurationStats
from switchyard.models.workflow import NodeSpec, WorkflowSpec

FACTS = analyse_input('{"kind": "order"}', "application/json")
OPEN = ComponentHealth(breaker="Open")
HEALTHY = ComponentHealth(p50=10.0, p90=12.0)


# --- the status accessor -------------------------------------------------------------------------


def test_health_reads_stats_and_breaker_from_the_status_dict() -> None:
    status = {
        "breaker": {"state": "HalfOpen"},
        "stats": {"runs": 40, "failures": 20, "failureRate": 0.5, "duration": {"p50": 3, "p90": 7.5, "p99": 9}},
    }
    health = from_status(status, retry_limit=3, runtime_estimate=4.0)
    assert health == ComponentHealth("HalfOpen", 0.5, 40, 3.0, 7.5, 9.0, 3, 4.0)
    assert health.cel() == {"breaker": "HalfOpen", "failureRate": 0.5, "duration": {"p50": 3.0, "p90": 7.5, "p99": 9.0}}


def test_absent_or_malformed_stats_are_unknown() -> None:
    assert from_status({}) == ComponentHealth()
    assert from_status(None).cel() == {
        "breaker": "Closed",
        "failureRate": 0.0,
        "duration": {"p50": 0.0, "p90": 0.0, "p99": 0.0},
    }
    bad = {"breaker": {"state": "Weird"}, "stats": {"failureRate": "high", "duration": {"p90": -1}, "runs": True}}
    assert from_status(bad) == ComponentHealth()
    assert from_status({"stats": {"failureRate": 7}}).failure_rate == 1.0


def test_the_breaker_book_overrides_the_persisted_state() -> None:
    assert from_status({"breaker": {"state": "Closed"}}, breaker="Open").breaker == "Open"


# --- expected cost -------------------------------------------------------------------------------


def test_expected_attempts_under_a_retry_limit() -> None:
    assert expected_attempts(0.0, 2) == 1.0
    assert expected_attempts(0.5, 2) == pytest.approx(1.75)  # 1 + 0.5 + 0.25
    assert expected_attempts(0.5, 0) == 1.0
    assert expected_attempts(1.0, 2) == 3.0


def test_component_cost() -> None:
    assert component_cost(OPEN)[0] == math.inf
    assert component_cost(ComponentHealth(p50=10.0, failure_rate=0.5, retry_limit=2))[0] == pytest.approx(17.5)
    assert component_cost(ComponentHealth(runtime_estimate=6.0))[0] == 6.0  # no stats: the user's estimate
    assert component_cost(ComponentHealth())[0] == 0.0  # nothing known
    assert component_cost(None)[0] == 0.0
    half_open = ComponentHealth(breaker="HalfOpen", p50=1.0)
    assert component_cost(half_open)[0] == 1.0  # a trial slot is free: the next run is the trial
    taken = ComponentHealth(breaker="HalfOpen", p50=1.0, admitting=False)
    assert component_cost(taken) == (math.inf, "breaker HalfOpen, its trial runs taken")


def chain(*components: str) -> tuple[list[object], dict[str, tuple[str, ...]]]:
    dag = Dag.build(
        [NodeSpec(name=f"n{i}", component=c, depends_on=[f"n{i - 1}"] if i else []) for i, c in enumerate(components)]
    )
    return [dag.nodes[name] for name in dag.order], dag.deps


def test_alternative_cost_is_the_longest_path() -> None:
    dag = Dag.build(
        [
            NodeSpec(name="a", component="fast"),
            NodeSpec(name="b", component="slow", depends_on=["a"]),
            NodeSpec(name="c", component="fast", depends_on=["a"]),
        ]
    )
    health = {"fast": ComponentHealth(p50=1.0), "slow": ComponentHealth(p50=5.0)}
    cost = alternative_cost(0, [dag.nodes[n] for n in dag.order], dag.deps, health)
    assert cost.seconds == 6.0 and cost.components == ("fast", "slow")


def test_cheapest_ties_by_order_and_an_open_breaker_is_infinite() -> None:
    health = {"primary": OPEN, "backup": HEALTHY, "twin": HEALTHY}
    costs = [alternative_cost(i, *chain(c), health) for i, c in enumerate(("primary", "backup", "twin"))]  # type: ignore[arg-type]
    assert [c.seconds for c in costs] == [math.inf, 10.0, 10.0]
    assert cheapest(costs).index == 1
    every_open = [alternative_cost(i, *chain("primary"), health) for i in range(2)]  # type: ignore[arg-type]
    assert cheapest(every_open).index == 0


# --- static checks of `components` ---------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "components.primary.breaker == 'Open'",
        'components["ocr-fast"].failureRate > 0.3',
        "components.primary.duration.p90 > 10.0 || input.size > 3",
        "has(components.primary) && components.primary.breaker != 'Closed'",
    ],
)
def test_component_facts_pass_the_checks(when: str) -> None:
    assert check_static(when) is None


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "components.primary.breakr == 'Open'",
            "unknown field breakr of a component (did you mean breaker?): it has breaker, failureRate, duration",
        ),
        (
            "components.primary.failurerate > 0.5",
            "unknown field failurerate of a component (did you mean failureRate?): "
            "it has breaker, failureRate, duration",
        ),
        (
            "components.primary.duration.p95 > 1.0",
            "unknown field p95 of a component's duration (did you mean p99?): it has p50, p90, p99",
        ),
        (
            "componets.primary.breaker == 'Open'",
            "unknown variable componets (did you mean components?): the variables are input, params, components",
        ),
        ("components.primary.breaker", "the expression yields a string, not bool: it can never match"),
    ],
)
def test_wrong_component_facts_are_refused(when: str, message: str) -> None:
    assert check_static(when) == message


def test_which_components_a_rule_reads() -> None:
    assert component_names("components.a.breaker == 'Open' && components['b-c'].failureRate > 0.1") == {"a", "b-c"}
    assert component_names("input.size > 3") == frozenset()
    assert component_names("components[input.data].breaker == 'Open'") is None


# --- routing with health facts --------------------------------------------------------------------


def rule(name: str, when: str, *path: str, priority: int = 0) -> object:
    return compile_rule(name, RoutingRuleSpec(priority=priority, when=when, path=list(path)))


FALLBACK = compile_rule(
    "fallback", RoutingRuleSpec(priority=10, when="components.primary.breaker == 'Open'", path=["backup"])
)
NORMAL = compile_rule("normal", RoutingRuleSpec(when="true", path=["primary"]))


def test_a_rule_routes_around_an_open_breaker_and_says_why() -> None:
    decision = route(FACTS, [FALLBACK, NORMAL], None, analysis=False, health={"primary": OPEN})
    assert (decision.rule, decision.path) == ("fallback", ["backup"])
    assert decision.reason == "components.primary.breaker == 'Open' (primary.breaker=Open)"
    healthy = route(FACTS, [FALLBACK, NORMAL], None, analysis=False, health={"primary": HEALTHY})
    assert (healthy.rule, healthy.path) == ("normal", ["primary"])


def test_a_missing_component_is_no_match_with_a_clear_message() -> None:
    decision = route(FACTS, [FALLBACK, NORMAL], None, analysis=False, health={})
    assert decision.rule == "normal"
    [message] = decision.skipped
    assert message.startswith("rule 'fallback': no Component 'primary' in the namespace (not matched; ")
    assert decision.skipped_rules == ["fallback"]


def test_health_wanted_names_read_and_alternative_components() -> None:
    spec = RoutingRuleSpec(
        when="components.gate.failureRate < 0.5",
        alternatives=[Alternative(path=["a", "b"]), Alternative(nodes=[RuleNodeSpec(name="x", component="c")])],
    )
    assert health_wanted([compile_rule("r", spec), NORMAL]) == {"gate", "a", "b", "c"}
    assert (
        health_wanted([compile_rule("r", RoutingRuleSpec(when="components[input.data].runs > 0", path=["a"]))]) is None
    )


# --- alternatives --------------------------------------------------------------------------------

ALTERNATIVES = compile_rule(
    "ocr",
    RoutingRuleSpec(
        when="true",
        alternatives=[
            Alternative(path=["primary", "post"]),
            Alternative(
                nodes=[
                    RuleNodeSpec(name="b", component="backup"),
                    RuleNodeSpec(name="p", component="post", depends_on=["b"]),
                ]
            ),
        ],
    ),
)


def test_the_cheapest_alternative_is_run_and_recorded() -> None:
    health = {"primary": ComponentHealth(p50=2.0), "backup": ComponentHealth(p50=5.0), "post": ComponentHealth(p50=1.0)}
    first = route(FACTS, [ALTERNATIVES], None, analysis=False, health=health)
    assert (first.chosen, first.path) == (0, ["primary", "post"])
    assert [c.seconds for c in first.alternatives] == [3.0, 6.0]
    broken = {**health, "primary": ComponentHealth(p50=2.0, failure_rate=0.9, retry_limit=5)}  # 2 x 4.69 attempts
    second = route(FACTS, [ALTERNATIVES], None, analysis=False, health=broken)
    assert (second.chosen, second.path, [n.name for n in second.nodes]) == (1, ["backup", "post"], ["b", "p"])
    assert "alternative 2 (backup->post: 6s" in second.reason
    assert second.summary == "rule ocr (alternative 2)"


def test_an_open_breaker_makes_the_second_alternative_win() -> None:
    decision = route(FACTS, [ALTERNATIVES], None, analysis=False, health={"primary": OPEN})
    assert decision.chosen == 1
    assert math.isinf(decision.alternatives[0].seconds) and decision.alternatives[1].seconds == 0.0
    assert "breaker Open" in decision.reason


def test_alternatives_exclusive_with_path_and_each_one_checked() -> None:
    with pytest.raises(ValueError, match="exactly one of a non-empty 'path', 'nodes' or 'alternatives'"):
        RoutingRuleSpec(when="true", path=["a"], alternatives=[Alternative(path=["b"])])
    with pytest.raises(ValueError, match="an alternative needs exactly one"):
        Alternative()
    bad = RoutingRuleSpec(
        when="true",
        alternatives=[
            Alternative(path=["a"]),
            Alternative(nodes=[RuleNodeSpec(name="x", component="c", depends_on=["y"])]),
        ],
    )
    assert (compile_rule("r", bad).error or "").startswith("invalid alternative 2: ")


def test_the_worker_pool_routes_with_health_the_same() -> None:
    pool = RuleEvaluatorPool(1)
    try:
        decision = asyncio.run(route_input(FACTS, [FALLBACK, NORMAL], None, False, health={"primary": OPEN}, pool=pool))
        assert (decision.rule, decision.reason) == (
            "fallback",
            "components.primary.breaker == 'Open' (primary.breaker=Open)",
        )
        missing = asyncio.run(route_input(FACTS, [FALLBACK, NORMAL], None, False, health={}, pool=pool))
        assert missing.rule == "normal" and "no Component 'primary'" in missing.skipped[0]
    finally:
        pool.close()


def test_health_reads_what_the_operator_writes_as_status_stats() -> None:
    status = ComponentStatus(
        stats=ComponentStats(runs=10, failures=5, failure_rate=0.5, duration=DurationStats(p50=2, p90=4, p99=5))
    )
    health = from_status(status.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert (health.failure_rate, health.runs, health.p50, health.p90, health.p99) == (0.5, 10, 2.0, 4.0, 5.0)
    before_first_success = ComponentStatus(stats=ComponentStats(runs=2, failures=2, failure_rate=1.0))
    assert from_status(before_first_success.model_dump(mode="json", by_alias=True, exclude_none=True)).p50 is None


def test_the_recorded_route_resumes_the_chosen_alternative() -> None:
    decision = route(FACTS, [ALTERNATIVES], None, analysis=False, health={"primary": OPEN})
    status = route_status(decision)
    wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["chosen"] == 1 and wire["summary"] == "rule ocr (alternative 2)"
    assert wire["alternatives"][0] == {
        "index": 0,
        "components": ["primary", "post"],
        "detail": "primary: breaker Open; post: unknown component: 0s",
    }
    assert wire["alternatives"][1]["estimateSeconds"] == 0.0
    again = type(status).model_validate(wire)  # after a restart: the run goes on with what was chosen
    assert [n.name for n in routed_nodes(WorkflowSpec.model_validate({"input": {"data": "x"}}), again)] == ["b", "p"]


def test_the_reason_shows_each_component_fact_read() -> None:
    components = {"a": {"breaker": "Open", "failureRate": 0.5, "duration": {"p90": 3.0}}}
    when = (
        'components.a.breaker.startsWith("O") && components["a"].duration.p90 > 1.0 && components.b.failureRate > 0.1'
    )
    assert component_facts(when, components) == ["a.breaker=Open", "a.duration.p90=3.0", "b=missing"]
