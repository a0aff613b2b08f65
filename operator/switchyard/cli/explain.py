"""`switchyard route`: which RoutingRule matches an input and why (each rule's result), else the analysis path.

Pure: the rules and the input come in as objects; evaluation is the operator's own (`switchyard.logic.routing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from switchyard.logic.analysis import analyse_input
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.health import ComponentHealth
from switchyard.logic.routing import CompiledRule, RouteDecision, compile_rule, health_wanted, route
from switchyard.models.routing import RoutingRuleSpec
from switchyard.models.workflow import WorkflowObjectSpec

Outcome = Literal["matched", "false", "skipped", "not selected", "invalid"]


@dataclass(frozen=True)
class RuleResult:
    name: str
    priority: int
    outcome: Outcome
    detail: str
    chosen: bool = False


@dataclass(frozen=True)
class Explanation:
    results: list[RuleResult]
    decision: RouteDecision | None
    error: str | None  # why nothing was chosen (no route and analysis disabled)
    explicit: bool = False  # the Workflow lists its nodes: routing is not used


@dataclass(frozen=True)
class RoutingInput:
    data: str
    content_type: str = "text/plain"
    labels: Mapping[str, str] | None = None
    selector: Mapping[str, str] | None = None
    analysis: bool = True
    explicit: bool = False


def input_from_workflow(obj: Mapping[str, Any]) -> RoutingInput:
    """The routing input of a Workflow manifest; ValueError when its data is not inline."""
    spec = WorkflowObjectSpec.model_validate(obj.get("spec") or {})
    if spec.input.data is None:
        ref = spec.input.config_map_key_ref
        where = f"ConfigMap {ref.name!r} key {ref.key!r}" if ref else "nowhere"
        raise ValueError(f"the input data is in {where}, not inline: pass the data file instead")
    selector = spec.routing.rule_selector.match_labels if spec.routing.rule_selector else None
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return RoutingInput(
        data=spec.input.data,
        content_type=spec.input.content_type,
        labels=dict(labels),
        selector=dict(selector) if selector else None,
        analysis=spec.routing.analysis,
        explicit=bool(spec.nodes),
    )


def compile_rules(objects: Sequence[Mapping[str, Any]]) -> tuple[list[CompiledRule], list[RuleResult]]:
    """Compile RoutingRule objects; a rule whose spec does not parse is reported as `invalid`."""
    compiled: list[CompiledRule] = []
    invalid: list[RuleResult] = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name", "?"))
        try:
            spec = RoutingRuleSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            invalid.append(RuleResult(name, 0, "invalid", f"spec: {first['msg']}"))
            continue
        compiled.append(compile_rule(name, spec, metadata.get("labels") or {}))
    return compiled, invalid


def explain(
    routing_input: RoutingInput,
    rules: Sequence[CompiledRule],
    health: Mapping[str, ComponentHealth] | None = None,
) -> Explanation:
    """Evaluate every rule on its own (priority desc, then name), then route as the operator does.
    `health`: the Components' health (`components.NAME`); by default every Component the rules name reads as
    healthy with no statistics (Closed, failureRate 0, durations 0: alternatives cost their estimates, else 0)."""
    facts = analyse_input(routing_input.data, routing_input.content_type, routing_input.labels)
    if health is None:
        health = {name: ComponentHealth() for name in sorted(health_wanted(rules) or ())}
    selector = routing_input.selector
    results: list[RuleResult] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.name)):
        if selector and any(rule.labels.get(key) != value for key, value in selector.items()):
            wanted = ",".join(f"{key}={value}" for key, value in selector.items())
            results.append(RuleResult(rule.name, rule.priority, "not selected", f"labels do not match {wanted}"))
            continue
        if rule.error is not None:
            results.append(RuleResult(rule.name, rule.priority, "invalid", rule.error))
            continue
        alone = route(facts, [rule], None, analysis=True, health=health)
        if alone.source == "Rule":
            results.append(RuleResult(rule.name, rule.priority, "matched", alone.reason))
        elif alone.skipped:
            detail = alone.skipped[0].removeprefix(f"rule {rule.name!r}: ")
            results.append(RuleResult(rule.name, rule.priority, "skipped", detail))
        else:
            results.append(RuleResult(rule.name, rule.priority, "false", rule.when))
    try:
        decision = route(facts, rules, selector, routing_input.analysis, health=health)
    except InvalidSpec as invalid:
        return Explanation(results, None, invalid.message, routing_input.explicit)
    results = [RuleResult(r.name, r.priority, r.outcome, r.detail, chosen=decision.rule == r.name) for r in results]
    return Explanation(results, decision, None, routing_input.explicit)
