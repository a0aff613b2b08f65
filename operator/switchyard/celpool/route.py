"""Route a workflow's input without blocking the event loop: `logic.routing.route`'s decisions, with each rule
evaluated in the CEL worker pool (`pool.py`) within its time budget; a rule over budget is skipped (its message
becomes a `RuleSkipped` Warning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from switchyard.celpool.pool import DEFAULT_BUDGET_SECONDS, RuleEvaluatorPool, default_pool
from switchyard.logic.analysis import InputFacts
from switchyard.logic.health import ComponentHealth, cel_components
from switchyard.logic.routing import (
    CompiledRule,
    RouteDecision,
    candidates,
    decide,
    explain_problem,
    input_variables,
    unusable,
)


async def route_input(
    facts: InputFacts,
    rules: Sequence[CompiledRule],
    selector: Mapping[str, str] | None,
    analysis: bool,
    *,
    params: Mapping[str, Any] | None = None,
    health: Mapping[str, ComponentHealth] | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    pool: RuleEvaluatorPool | None = None,
) -> RouteDecision:
    """`logic.routing.route`, with each rule's evaluation off the event loop and bounded by `budget_seconds`.
    `params`: a WorkflowTemplate run's parameter values, the rules' `params` variable (else an empty map).
    `health`: the namespace's Components, the rules' `components` variable and the alternatives' costs.

    Raises InvalidSpec("NoRoute") when no rule matches and analysis is disabled.
    """
    ordered = candidates(rules, selector)
    usable = [rule for rule in ordered if unusable(rule) is None]
    results: list[tuple[bool, str | None]] = []
    components = cel_components(health or {})
    if usable:
        variables = {"input": input_variables(facts, usable), "params": dict(params or {}), "components": components}
        results = await (pool or default_pool()).run(variables, usable, budget_seconds, whole=True)
    outcomes = iter(results)  # in the order of `usable`, up to the first match
    skipped: list[tuple[str, str]] = []
    for rule in ordered:
        problem = unusable(rule)
        matched = False
        if problem is None:
            outcome = next(outcomes, None)
            if outcome is None:
                break  # not reached: an earlier rule matched
            matched, problem = outcome
            problem = explain_problem(rule, problem, components)
        if problem is not None:
            skipped.append((rule.name, problem))
        if matched:
            return decide(facts, rule, skipped, analysis, health)
    return decide(facts, None, skipped, analysis, health)
