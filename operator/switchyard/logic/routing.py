"""Route a workflow's input: RoutingRules (CEL over `input`, `params` and `components`) by priority, else data
analysis. A rule with `alternatives` runs the one with the lowest expected cost (logic.health).

CEL runs on `common-expression-language` (Rust core); see docs/benchmarks.md, "CEL library".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cel

from switchyard.logic import naming
from switchyard.logic.analysis import InputFacts, analysis_path
from switchyard.logic.celcheck import check_static
from switchyard.logic.conditions import truncate
from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.health import (
    AlternativeCost,
    ComponentHealth,
    alternative_cost,
    cel_components,
    cheapest,
    describe_choice,
)
from switchyard.models.common import MAX_MESSAGE
from switchyard.models.routing import MAX_WHEN, RoutingRuleSpec
from switchyard.models.workflow import NodeSpec

RouteSource = Literal["Explicit", "Rule", "Analysis"]

# `input.size`, `input["size"]`, `input['size']`: which facts an expression reads (for the reason).
_REFERENCE = re.compile(r"""\binput\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*["']([A-Za-z_]\w*)["']\s*\])""")
_INPUT_TOKEN = re.compile(r"\binput\b")
# `components.NAME`, `components["a-b"]` (then `.breaker`, `.failureRate`, `.duration.p90`...): the health facts read
_COMPONENT_REFERENCE = re.compile(
    r"""\bcomponents\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*["']([^"'\\\]]+)["']\s*\])"""
    r"""((?:\s*(?:\.\s*[A-Za-z_]\w*|\[\s*["'][A-Za-z_]\w*["']\s*\]))*)"""
)
_COMPONENTS_TOKEN = re.compile(r"\bcomponents\b")
_FIELD = re.compile(r"""[A-Za-z_]\w*""")
_FACT_PREVIEW = 60


@dataclass(frozen=True)
class CompiledRule:
    """A RoutingRule ready to evaluate. `error` is set (and the rule never matches) when it is unusable."""

    name: str
    priority: int
    when: str
    path: tuple[str, ...]
    nodes: tuple[NodeSpec, ...]
    labels: Mapping[str, str]
    error: str | None
    _program: cel.Program | None = field(default=None, repr=False, compare=False)
    _reads: frozenset[str] | None = field(default=None, repr=False, compare=False)  # see input_keys
    # each alternative's DAG (a path's chain), when the rule has `alternatives`
    alternatives: tuple[tuple[NodeSpec, ...], ...] = ()
    _components: frozenset[str] | None = field(default=frozenset(), repr=False, compare=False)  # component_names


@dataclass(frozen=True)
class RouteDecision:
    """The path chosen for an input. `nodes` is always the DAG to run (a chain for `path` routes)."""

    source: RouteSource
    rule: str | None
    path: list[str]
    nodes: list[NodeSpec]
    reason: str
    summary: str
    skipped: list[str]  # one message per rule that failed to compile or evaluate
    skipped_rules: list[str] = field(default_factory=list)  # the names of those rules, in the same order
    alternatives: list[AlternativeCost] = field(default_factory=list)  # each alternative's estimate
    chosen: int | None = None  # the index of the alternative run


def _compile(when: str) -> tuple[cel.Program | None, str | None]:
    """(program, None), or (None, the reason `when` is unusable): too long, not CEL, or statically wrong
    (see logic.celcheck: unknown variables or `input` fields, a non-bool result, deep comprehension nesting)."""
    if len(when) > MAX_WHEN:
        return None, f"CEL expression is {len(when)} characters long; at most {MAX_WHEN} are allowed"
    try:
        program = cel.compile(when)
    except Exception as error:  # the library raises ValueError; any failure means the rule is invalid
        return None, f"CEL compile error: {error}"
    problem = check_static(when)
    if problem is not None:
        return None, f"CEL check error: {problem}"
    return program, None


def check_expression(when: str) -> str | None:
    """None when `when` compiles and passes the static checks, else "CEL compile error: ..." or
    "CEL check error: ..."."""
    return _compile(when)[1]


def compile_rule(name: str, spec: RoutingRuleSpec, labels: Mapping[str, str] | None = None) -> CompiledRule:
    """Compile a rule's `when` (and validate its `nodes` DAG); never raises: problems go to `error`."""
    program, error = _compile(spec.when)
    nodes = tuple(spec.nodes or ())
    if nodes and error is None:
        try:
            Dag.build(nodes)
        except InvalidSpec as invalid:
            error = f"invalid nodes: {invalid.message}"
    alternatives: list[tuple[NodeSpec, ...]] = []
    for number, alternative in enumerate(spec.alternatives or (), start=1):
        chain: tuple[NodeSpec, ...] = tuple(alternative.nodes or ()) or tuple(path_to_nodes(alternative.path or ()))
        if error is None:
            try:
                Dag.build(chain)
            except InvalidSpec as invalid:
                error = f"invalid alternative {number}: {invalid.message}"
        alternatives.append(chain)
    return CompiledRule(
        name=name,
        priority=spec.priority,
        when=spec.when,
        path=tuple(spec.path or ()),
        nodes=nodes,
        labels=dict(labels or {}),
        error=error,
        _program=program,
        _reads=input_keys(spec.when),
        alternatives=tuple(alternatives),
        _components=component_names(spec.when),
    )


def component_names(when: str) -> frozenset[str] | None:
    """The Components an expression reads (`components.a`, `components["a-b"]`), or None when it may use
    `components` as a whole (`components[k]`, a string mentioning "components"...)."""
    accesses = _COMPONENT_REFERENCE.findall(when)
    if len(accesses) != len(_COMPONENTS_TOKEN.findall(when)):
        return None
    return frozenset(attr or item for attr, item, _ in accesses)


def health_wanted(rules: Sequence[CompiledRule]) -> frozenset[str] | None:
    """The Components whose health these rules need (read in `when`, or run by an alternative); None: all."""
    wanted: set[str] = set()
    for rule in rules:
        if rule._components is None:
            return None
        wanted |= rule._components
        wanted.update(node.component for chain in rule.alternatives for node in chain)
    return frozenset(wanted)


def input_keys(when: str) -> frozenset[str] | None:
    """The keys of `input` an expression reads (`input.size`, `input["size"]`), or None when it may
    use `input` as a whole (`size(input)`, `input[k]`, a string mentioning "input"...).

    Routing converts only these keys to CEL values: converting a parsed 100 KiB JSON input costs
    ~15 ms, so rules that never read `input.json` should not pay for it.
    """
    accesses = _REFERENCE.findall(when)
    if len(accesses) != len(_INPUT_TOKEN.findall(when)):
        return None
    return frozenset(attr or item for attr, item in accesses)


def cel_input(facts: InputFacts) -> dict[str, Any]:
    """The `input` variable as CEL sees it (camelCase keys, like the API)."""
    return {
        "data": facts.data,
        "size": facts.size,
        "isJson": facts.is_json,
        "json": facts.json,
        "hasDigits": facts.has_digits,
        "contentType": facts.content_type,
        "labels": dict(facts.labels),
    }


def _selected(rule: CompiledRule, selector: Mapping[str, str] | None) -> bool:
    return not selector or all(rule.labels.get(key) == value for key, value in selector.items())


def input_variables(facts: InputFacts, rules: Sequence[CompiledRule]) -> dict[str, Any]:
    """The `input` variable for these rules, holding only the keys they read (converted once for all)."""
    everything = cel_input(facts)
    wanted: set[str] = set()
    for rule in rules:
        if rule._reads is None:
            return everything
        wanted |= rule._reads
    return {key: everything[key] for key in everything if key in wanted}


def cel_context(
    variables: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    components: Mapping[str, Any] | None = None,
) -> cel.Context | str:
    """A CEL context with `input` bound to `variables`, `params` to a WorkflowTemplate run's parameter values
    (an empty map for other Workflows) and `components` to the namespace's Component health (`cel_components`),
    or the reason the library could not convert them."""
    try:
        return cel.Context(
            variables={"input": dict(variables), "params": dict(params or {}), "components": dict(components or {})}
        )
    except Exception as error:  # a value the library cannot convert
        return f"CEL evaluation error: cannot convert the input: {error}"


def evaluate(name: str, program: cel.Program, context: cel.Context | str) -> tuple[bool, str | None]:
    """(matched, skip message) of one compiled rule. Evaluation problems skip the rule; they never escape."""
    if isinstance(context, str):
        return False, f"rule {name!r}: {context}"
    try:
        result = program.execute(context)
    except Exception as error:  # the library maps CEL errors to TypeError/KeyError/ValueError/...
        detail = f"no such key: {error}" if isinstance(error, KeyError) else str(error)
        return False, f"rule {name!r}: CEL evaluation error: {detail}"
    if not isinstance(result, bool):
        preview = truncate(repr(result), _FACT_PREVIEW)
        kind = type(result).__name__
        return False, f"rule {name!r}: CEL evaluation error: expected a bool, got {kind} {preview}"
    return result, None


def unusable(rule: CompiledRule) -> str | None:
    """The skip message of a rule that failed to compile, else None."""
    if rule.error is not None or rule._program is None:
        return f"rule {rule.name!r}: {rule.error or 'not compiled'}"
    return None


def _evaluate(rule: CompiledRule, context: cel.Context | str) -> tuple[bool, str | None]:
    problem = unusable(rule)
    if problem is not None or rule._program is None:
        return False, problem
    return evaluate(rule.name, rule._program, context)


def _show(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return truncate(text, _FACT_PREVIEW)


def rule_reason(when: str, variables: Mapping[str, Any], components: Mapping[str, Any] | None = None) -> str:
    """The expression plus the input and component facts it reads, e.g. "input.size > 5000 (size=7340)" or
    "components.primary.breaker == 'Open' (primary.breaker=Open)"."""
    keys = dict.fromkeys(attr or item for attr, item in _REFERENCE.findall(when))
    facts = [f"{key}={_show(variables[key])}" for key in keys if key in variables]
    facts += component_facts(when, components or {})
    text = f"{when} ({', '.join(facts)})" if facts else when
    return truncate(text, MAX_MESSAGE)


def component_facts(when: str, components: Mapping[str, Any]) -> list[str]:
    """ "NAME.FIELD=value" of each component fact `when` reads (a missing Component: "NAME=missing")."""
    facts: dict[str, None] = {}
    for attr, item, trail in _COMPONENT_REFERENCE.findall(when):
        name = attr or item
        value: Any = components.get(name)
        if value is None:
            facts[f"{name}=missing"] = None
            continue
        fields: list[str] = []
        for key in _FIELD.findall(trail):  # up to a method call (`.breaker.startsWith`) or an unknown key
            if not isinstance(value, Mapping) or key not in value:
                break
            value = value[key]
            fields.append(key)
        if fields:
            shown = value if isinstance(value, str) else _show(value)
            facts[f"{name}.{'.'.join(fields)}={shown}"] = None
    return list(facts)


def missing_components(rule: CompiledRule, components: Mapping[str, Any]) -> list[str]:
    """The Components `rule` reads that do not exist (no health known for them)."""
    return sorted(name for name in rule._components or () if name not in components)


def explain_problem(rule: CompiledRule, problem: str | None, components: Mapping[str, Any]) -> str | None:
    """A clearer skip message when the rule read a Component that does not exist in the namespace."""
    missing = missing_components(rule, components)
    if problem is None or not missing:
        return problem
    names = ", ".join(repr(name) for name in missing)
    return truncate(f"rule {rule.name!r}: no Component {names} in the namespace (not matched; {problem})", MAX_MESSAGE)


def route(
    facts: InputFacts,
    rules: Sequence[CompiledRule],
    selector: Mapping[str, str] | None,
    analysis: bool,
    params: Mapping[str, Any] | None = None,
    health: Mapping[str, ComponentHealth] | None = None,
) -> RouteDecision:
    """Pick the path for an input: the first matching rule (priority desc, then name), else analysis.
    `params`: a WorkflowTemplate run's parameter values, the rules' `params` variable (else an empty map).
    `health`: the namespace's Components as the rules' `components` variable and the alternatives' costs.

    Raises InvalidSpec("NoRoute") when no rule matches and analysis is disabled.
    """
    ordered = candidates(rules, selector)
    components = cel_components(health or {})
    variables = input_variables(facts, [rule for rule in ordered if rule.error is None])
    context = cel_context(variables, params, components)
    skipped: list[tuple[str, str]] = []
    for rule in ordered:
        matched, problem = _evaluate(rule, context)
        problem = explain_problem(rule, problem, components)
        if problem is not None:
            skipped.append((rule.name, problem))
        if matched:
            return decide(facts, rule, skipped, analysis, health)
    return decide(facts, None, skipped, analysis, health)


def candidates(rules: Sequence[CompiledRule], selector: Mapping[str, str] | None) -> list[CompiledRule]:
    """The rules the selector picks, in the order they are tried: priority desc, then name."""
    return sorted((rule for rule in rules if _selected(rule, selector)), key=lambda r: (-r.priority, r.name))


def decide(
    facts: InputFacts,
    matched: CompiledRule | None,
    skips: Sequence[tuple[str, str]],
    analysis: bool,
    health: Mapping[str, ComponentHealth] | None = None,
) -> RouteDecision:
    """The decision once rules were tried: `matched`'s path (its cheapest alternative), else analysis, else
    InvalidSpec("NoRoute").

    `skips` are (rule, message) of the rules that failed to compile or evaluate: non-matches.
    """
    skipped = [message for _, message in skips]
    skipped_rules = [rule for rule, _ in skips]
    if matched is not None:
        reason = rule_reason(matched.when, cel_input(facts), cel_components(health or {}))
        costs: list[AlternativeCost] = []
        chosen: int | None = None
        if matched.alternatives:
            costs, chosen = choose_alternative(matched.alternatives, health or {})
            reason = f"{reason}; {describe_choice(costs, costs[chosen])}"
            nodes = list(matched.alternatives[chosen])
        elif matched.nodes:
            nodes = list(matched.nodes)
        else:
            nodes = path_to_nodes(matched.path)
        dag = Dag.build(nodes)  # validated by compile_rule
        path = [dag.nodes[name].component for name in dag.order]
        if not matched.nodes and not matched.alternatives:
            path = list(matched.path)
        return RouteDecision(
            source="Rule",
            rule=matched.name,
            path=path,
            nodes=nodes,
            reason=truncate(reason, MAX_MESSAGE),
            summary=f"rule {matched.name}" + (f" (alternative {chosen + 1})" if chosen is not None else ""),
            skipped=skipped,
            skipped_rules=skipped_rules,
            alternatives=costs,
            chosen=chosen,
        )
    if not analysis:
        message = "no RoutingRule matched the input and analysis is disabled"
        if skipped:
            message += f"; skipped {len(skipped)} rule{'s' if len(skipped) != 1 else ''}: " + "; ".join(skipped)
        raise InvalidSpec("NoRoute", truncate(message, MAX_MESSAGE), tuple(skipped_rules))
    path, reason = analysis_path(facts)
    return RouteDecision(
        source="Analysis",
        rule=None,
        path=path,
        nodes=path_to_nodes(path),
        reason=truncate(reason, MAX_MESSAGE),
        summary="analysis",
        skipped=skipped,
        skipped_rules=skipped_rules,
    )


def choose_alternative(
    alternatives: Sequence[Sequence[NodeSpec]], health: Mapping[str, ComponentHealth]
) -> tuple[list[AlternativeCost], int]:
    """Each alternative's expected cost and the index of the cheapest (ties by order)."""
    costs = []
    for index, nodes in enumerate(alternatives):
        dag = Dag.build(nodes)  # validated by compile_rule
        ordered = [dag.nodes[name] for name in dag.order]
        costs.append(alternative_cost(index, ordered, dag.deps, health))
    return costs, cheapest(costs).index


def node_name(component: str) -> str:
    """A DNS-label node name for a component (a short hash is appended whenever the name had to change)."""
    return naming.dns_label(component)


def path_to_nodes(path: Sequence[str]) -> list[NodeSpec]:
    """A chain of nodes running `path` in order; a repeated component gets a `-2`, `-3`... suffix."""
    nodes: list[NodeSpec] = []
    used: set[str] = set()
    seen: dict[str, int] = {}
    for component in path:
        base = node_name(component)
        seen[base] = count = seen.get(base, 0) + 1
        name = base if count == 1 else naming.fit(base, f"-{count}", naming.MAX_LABEL)
        while name in used:  # e.g. a component literally named `x-2` came earlier
            count += 1
            name = naming.fit(base, f"-{count}", naming.MAX_LABEL)
        used.add(name)
        depends_on = [nodes[-1].name] if nodes else []
        nodes.append(NodeSpec(name=name, component=component, depends_on=depends_on))
    return nodes
