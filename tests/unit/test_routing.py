"""Unit tests of `switchyard.logic.analysis` and `switchyard.logic.routing`: facts, analysis paths, CEL rules."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import pytest

from switchyard.logic.analysis import analyse_input, analysis_path
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.routing import (
    CompiledRule,
    check_expression,
    compile_rule,
    input_keys,
    node_name,
    path_to_nodes,
    route,
)
from switchyard.models.routing import RoutingRuleSpec, RuleNodeSpec
from switchyard.models.workflow import NodeSpec

ORDER = json.dumps({"kind": "order", "lines": [{"sku": "a", "qty": 3}]})
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def rule(name: str, when: str, *path: str, priority: int = 0, labels: Mapping[str, str] | None = None) -> CompiledRule:
    return compile_rule(name, RoutingRuleSpec(priority=priority, when=when, path=list(path)), labels)


# --- analysis -----------------------------------------------------------------------------------


def test_facts_of_json() -> None:
    facts = analyse_input(ORDER, "application/json", {"team": "a"})
    assert facts.is_json
    assert facts.json == {"kind": "order", "lines": [{"sku": "a", "qty": 3}]}
    assert facts.size == len(ORDER)
    assert facts.has_digits
    assert (facts.content_type, facts.labels) == ("application/json", {"team": "a"})


def test_facts_of_text() -> None:
    facts = analyse_input("héllo wörld")
    assert (facts.is_json, facts.json, facts.has_digits) == (False, None, False)
    assert facts.size == len("héllo wörld".encode())
    assert (facts.content_type, facts.labels) == ("text/plain", {})


@pytest.mark.parametrize(
    ("data", "content_type", "is_json"),
    [
        ('  {"a": 1}\n', "text/plain", True),
        ("[1, 2]", "text/plain", True),
        ("42", "text/plain", False),  # a bare scalar is not JSON-like text...
        ("42", "application/json", True),  # ...unless the content type says it is JSON
        ("42", "application/vnd.api+json; charset=utf-8", True),
        ("{not json", "application/json", False),
        ("", "application/json", False),
        ("[" * 100_000, "text/plain", False),  # too deep for the parser: not JSON, no crash
    ],
)
def test_json_detection(data: str, content_type: str, is_json: bool) -> None:
    assert analyse_input(data, content_type).is_json is is_json


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ("hello", ["data-validator"], "analysis: plain text -> data-validator"),
        ("room 101", ["numeric-processor", "data-validator"], "analysis: digits -> numeric-processor, data-validator"),
        (
            '{"kind": "note"}',
            ["json-processor", "data-validator"],
            "analysis: json (isJson=true) -> json-processor, data-validator",
        ),
        (
            "x" * 1001,
            ["chunking-processor", "data-validator"],
            "analysis: large (size=1001 > 1000) -> chunking-processor, data-validator",
        ),
        ("x" * 1000, ["data-validator"], "analysis: plain text -> data-validator"),
        (
            json.dumps({"values": list(range(2000))}),
            ["json-processor", "chunking-processor", "numeric-processor", "data-validator"],
            "analysis: json (isJson=true), large (size=10902 > 1000), digits"
            " -> json-processor, chunking-processor, numeric-processor, data-validator",
        ),
    ],
)
def test_analysis_path(data: str, path: list[str], reason: str) -> None:
    assert analysis_path(analyse_input(data)) == (path, reason)


# --- compiling ----------------------------------------------------------------------------------


def test_compile_rule() -> None:
    compiled = rule("big", "input.size > 5000", "chunking-processor", priority=3, labels={"team": "a"})
    assert (compiled.name, compiled.priority, compiled.when) == ("big", 3, "input.size > 5000")
    assert compiled.path == ("chunking-processor",)
    assert compiled.nodes == ()
    assert compiled.labels == {"team": "a"}
    assert compiled.error is None


def test_compile_error_never_raises() -> None:
    compiled = rule("broken", "input.size >", "x")
    assert compiled.error is not None
    assert compiled.error.startswith("CEL compile error: ")
    assert "input.size >" in compiled.error


def test_check_expression() -> None:
    assert check_expression('input.contentType.startsWith("application/json")') is None
    error = check_expression("input.size > > 1")
    assert error is not None and error.startswith("CEL compile error: ")
    deep = check_expression("(" * 500 + "true" + ")" * 500)  # no stack overflow in the parsers or the checker
    assert deep is None or deep.startswith("CEL compile error: ")
    long = check_expression("(" * 3000 + "true" + ")" * 3000)
    assert long == "CEL expression is 6004 characters long; at most 1024 are allowed"


def test_rule_with_invalid_nodes_is_unusable() -> None:
    spec = RoutingRuleSpec(
        when="true",
        nodes=[
            RuleNodeSpec(name="a", component="x", depends_on=["b"]),
            RuleNodeSpec(name="b", component="y", depends_on=["a"]),
        ],
    )
    compiled = compile_rule("loop", spec)
    assert compiled.error == "invalid nodes: dependency cycle: a -> b -> a"


@pytest.mark.parametrize(
    ("when", "keys"),
    [
        ("input.size > 5000", {"size"}),
        ('input["json"].kind == "order" && input . labels["team"] == "a"', {"json", "labels"}),
        ("size(input) > 2", None),
        ("input[k] == 1", None),
        ('input.data.contains("input")', None),  # conservative: the string mentions input
        ("true", set()),
    ],
)
def test_input_keys(when: str, keys: set[str] | None) -> None:
    assert input_keys(when) == (None if keys is None else frozenset(keys))


# --- routing ------------------------------------------------------------------------------------

LARGE_ORDER = analyse_input(
    json.dumps({"kind": "order", "note": "x" * 7300}), "application/json; charset=utf-8", {"team": "a"}
)


@pytest.mark.parametrize(
    "when",
    [
        "input.size > 5000",
        'input.isJson && input.json.kind == "order"',
        'input.labels["team"] == "a"',
        'input.contentType.startsWith("application/json")',
        "!input.hasDigits",
        "input.data.startsWith('{')",
    ],
)
def test_documented_examples_match(when: str) -> None:
    decision = route(LARGE_ORDER, [rule("r", when, "json-processor")], None, False)
    assert (decision.source, decision.rule, decision.skipped) == ("Rule", "r", [])


def test_winner_fields() -> None:
    decision = route(
        LARGE_ORDER, [rule("big", "input.size > 5000", "chunking-processor", "data-validator")], None, True
    )
    assert decision.source == "Rule"
    assert decision.rule == "big"
    assert decision.path == ["chunking-processor", "data-validator"]
    assert decision.nodes == [
        NodeSpec(name="chunking-processor", component="chunking-processor"),
        NodeSpec(name="data-validator", component="data-validator", depends_on=["chunking-processor"]),
    ]
    assert decision.reason == f"input.size > 5000 (size={LARGE_ORDER.size})"
    assert decision.summary == "rule big"


def test_reason_lists_each_referenced_fact_once() -> None:
    when = 'input.isJson && input.json.kind == "order" && input.labels["team"] == "a" && input.isJson'
    decision = route(LARGE_ORDER, [rule("r", when, "x")], None, False)
    assert decision.reason.startswith(when + ' (isJson=true, json={"kind":"order","note":"xxx')
    assert decision.reason.endswith('..., labels={"team":"a"})')


def test_priority_then_name() -> None:
    rules = [
        rule("low", "true", "low-path", priority=1),
        rule("zeta", "true", "zeta-path", priority=5),
        rule("alpha", "true", "alpha-path", priority=5),
        rule("neg", "true", "neg-path", priority=-3),
    ]
    assert route(LARGE_ORDER, rules, None, True).rule == "alpha"
    assert route(LARGE_ORDER, rules[:2], None, True).rule == "zeta"
    assert route(LARGE_ORDER, [rules[0], rules[3]], None, True).rule == "low"


def test_first_true_wins_and_false_rules_are_not_skipped() -> None:
    rules = [rule("small", "input.size < 10", "a", priority=9), rule("big", "input.size > 10", "b", priority=1)]
    decision = route(LARGE_ORDER, rules, None, True)
    assert (decision.rule, decision.skipped) == ("big", [])


def test_selector_filters_rules_by_labels() -> None:
    rules = [
        rule("team-a", "true", "a-path", priority=1, labels={"team": "a", "tier": "gold"}),
        rule("team-b", "true", "b-path", priority=9, labels={"team": "b"}),
        rule("unlabelled", "true", "c-path", priority=5),
    ]
    assert route(LARGE_ORDER, rules, {"team": "a"}, True).rule == "team-a"
    assert route(LARGE_ORDER, rules, {"team": "a", "tier": "gold"}, True).rule == "team-a"
    assert route(LARGE_ORDER, rules, {}, True).rule == "team-b"
    assert route(LARGE_ORDER, rules, None, True).rule == "team-b"
    assert route(LARGE_ORDER, rules, {"team": "c"}, True).source == "Analysis"


def test_evaluation_errors_are_skipped_not_raised() -> None:
    text = analyse_input("plain words")
    rules = [
        rule("null-json", 'input.json.kind == "order"', "x", priority=9),
        rule("not-bool", "input.json == null ? input.size : false", "x", priority=8),  # only knowable when run
        rule("overflow", "9223372036854775807 + input.size > 0", "x", priority=7),
        rule("bad-regex", 'input.data.matches("(")', "x", priority=6),
        rule("unknown-key", 'input.labels.nope == "a"', "x", priority=5),
        rule("broken", "input.size >", "x", priority=4),
        rule("ok", "input.size < 100", "data-validator", priority=1),
    ]
    decision = route(text, rules, None, False)
    assert decision.rule == "ok"
    assert [message.split(":")[0] for message in decision.skipped] == [
        "rule 'null-json'",
        "rule 'not-bool'",
        "rule 'overflow'",
        "rule 'bad-regex'",
        "rule 'unknown-key'",
        "rule 'broken'",
    ]
    assert all(m.startswith(f"{m.split(':')[0]}: CEL evaluation error: ") for m in decision.skipped[:5])
    assert decision.skipped[1] == "rule 'not-bool': CEL evaluation error: expected a bool, got int 11"
    assert decision.skipped[4] == "rule 'unknown-key': CEL evaluation error: no such key: 'nope'"
    assert decision.skipped[5].startswith("rule 'broken': CEL compile error: ")
    assert decision.skipped_rules == ["null-json", "not-bool", "overflow", "bad-regex", "unknown-key", "broken"]


def test_no_route_names_the_rules_that_failed_to_evaluate() -> None:
    rules = [rule("kinds", 'input.json.kind == "order"', "x"), rule("small", "input.size < 0", "x")]
    with pytest.raises(InvalidSpec) as raised:
        route(analyse_input('{"id": 1}'), rules, None, False)
    assert raised.value.reason == "NoRoute" and raised.value.skipped_rules == ("kinds",)
    assert "skipped 1 rule: rule 'kinds': CEL evaluation error: no such key: 'kind'" in raised.value.message


def test_the_documented_has_pattern_never_errors_on_json_without_the_key() -> None:
    """Issue 19.12: the README's and examples' pattern is a plain non-match for any input, never a skip."""
    when = 'type(input.json) == map && has(input.json.kind) && input.json.kind == "order"'
    rules = [rule("orders", when, "json-processor")]
    for data in ('{"id": 1}', "[1, 2]", '"text"', "not json", '{"kind": 3}'):
        decision = route(analyse_input(data), rules, None, True)
        assert (decision.source, decision.skipped, decision.skipped_rules) == ("Analysis", [], []), data
    assert route(analyse_input('{"kind": "order"}'), rules, None, True).rule == "orders"


def test_json_field_on_object_without_it_or_on_a_list_is_skipped() -> None:
    rules = [rule("kind", 'input.json.kind == "order"', "x")]
    for data in ('{"other": 1}', "[1, 2]"):
        decision = route(analyse_input(data), rules, None, True)
        assert decision.source == "Analysis"
        assert len(decision.skipped) == 1


def test_guarded_json_rule_is_simply_false_for_text() -> None:
    decision = route(analyse_input("hi"), [rule("r", 'input.isJson && input.json.kind == "order"', "x")], None, True)
    assert (decision.source, decision.skipped) == ("Analysis", [])


def test_nodes_rule_returns_its_dag_and_components_in_topological_order() -> None:
    nodes = [
        RuleNodeSpec(name="validate", component="data-validator", depends_on=["parse", "count"]),
        RuleNodeSpec(name="parse", component="json-processor"),
        RuleNodeSpec(name="count", component="numeric-processor", depends_on=["parse"]),
    ]
    compiled = compile_rule("dag", RoutingRuleSpec(when="input.isJson", nodes=nodes))
    assert compiled.error is None and compiled.path == ()
    decision = route(LARGE_ORDER, [compiled], None, False)
    assert decision.nodes == nodes
    assert decision.path == ["json-processor", "numeric-processor", "data-validator"]
    assert decision.summary == "rule dag"


def test_analysis_when_nothing_matches() -> None:
    decision = route(LARGE_ORDER, [rule("never", "false", "x")], None, True)
    assert decision.source == "Analysis"
    assert decision.rule is None
    assert decision.path == ["json-processor", "chunking-processor", "data-validator"]
    assert decision.nodes == path_to_nodes(decision.path)
    assert decision.reason == analysis_path(LARGE_ORDER)[1]
    assert decision.summary == "analysis"


def test_no_route() -> None:
    with pytest.raises(InvalidSpec) as caught:
        route(LARGE_ORDER, [rule("never", "false", "x")], None, False)
    assert (caught.value.reason, caught.value.message) == (
        "NoRoute",
        "no RoutingRule matched the input and analysis is disabled",
    )


def test_no_route_mentions_skipped_rules() -> None:
    with pytest.raises(InvalidSpec) as caught:
        route(LARGE_ORDER, [rule("nb", "input.isJson ? input.size : false", "x")], None, False)
    assert caught.value.reason == "NoRoute"
    assert caught.value.message == (
        "no RoutingRule matched the input and analysis is disabled; skipped 1 rule: "
        f"rule 'nb': CEL evaluation error: expected a bool, got int {LARGE_ORDER.size}"
    )


def test_no_rules_at_all() -> None:
    assert route(analyse_input("x"), [], None, True).path == ["data-validator"]
    with pytest.raises(InvalidSpec, match="no RoutingRule matched"):
        route(analyse_input("x"), [], {"team": "a"}, False)


# --- path_to_nodes ------------------------------------------------------------------------------


def test_path_to_nodes_is_a_chain() -> None:
    nodes = path_to_nodes(["json-processor", "numeric-processor", "data-validator"])
    assert [(n.name, n.component, n.depends_on) for n in nodes] == [
        ("json-processor", "json-processor", []),
        ("numeric-processor", "numeric-processor", ["json-processor"]),
        ("data-validator", "data-validator", ["numeric-processor"]),
    ]
    assert path_to_nodes([]) == []


def test_repeated_components_get_numbered() -> None:
    names = [n.name for n in path_to_nodes(["a", "b", "a", "a", "a-2"])]
    assert names == ["a", "b", "a-2", "a-3", "a-2-2"]


def test_node_names_are_dns_labels() -> None:
    assert node_name("json-processor") == "json-processor"
    dotted = node_name("proc.example.com")
    assert dotted.startswith("proc-example-com-") and len(dotted) == len("proc-example-com-") + 5
    assert node_name("a-b") != node_name("a.b")
    long = node_name("x" * 200)
    assert len(long) <= 63 and long.startswith("x" * 50)
    long_names = [n.name for n in path_to_nodes(["y" * 253, "y" * 253])]
    assert long_names[0] != long_names[1]
    for name in [dotted, long, *long_names]:
        assert DNS_LABEL.match(name) and len(name) <= 63
