"""Unit tests of `switchyard.logic.celcheck` (static checks of RoutingRule CEL) through `compile_rule`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.logic.celcheck import MAX_MACRO_NESTING, check_static
from switchyard.logic.routing import check_expression, compile_rule
from switchyard.models.routing import MAX_WHEN, RoutingRuleSpec

ROOT = Path(__file__).resolve().parents[2]
TEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"


def nested_all(depth: int) -> str:
    """`TEN.all(v0, TEN.all(v1, ... v0 + v1 + ... >= 0))`, `depth` levels deep."""
    names = [f"v{level}" for level in range(depth)]
    expression = " + ".join(names) + " >= 0"
    for name in reversed(names):
        expression = f"{TEN}.all({name}, {expression})"
    return expression


def compile_error(when: str) -> str | None:
    return compile_rule("r", RoutingRuleSpec(when=when, path=["x"])).error


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("payload.size > 3", "unknown variable payload: the variables are input, params, components"),
        ("inptu.size > 3", "unknown variable inptu (did you mean input?): the variables are input, params, components"),
        ("input.sizee > 100", "unknown field input.sizee (did you mean input.size?)"),
        ('input["isjson"]', "unknown field input.isjson (did you mean input.isJson?)"),
        ("has(input.contenttype)", "unknown field input.contenttype (did you mean input.contentType?)"),
        ("input.zzz == 1", "unknown field input.zzz"),
        ("input.size", "the expression yields an int, not bool: it can never match"),
        ('input.data + "x"', "the expression yields a string, not bool: it can never match"),
        ("input", "the expression yields the input map, not bool: it can never match"),
        ("input.size > 3 ? 1 : 2", "the expression yields an int, not bool: it can never match"),
        ("[1, 2].filter(x, x > 1)", "the expression yields a list, not bool: it can never match"),
        ("null", "the expression yields null, not bool: it can never match"),
        ("input.size && input.isJson", "an operand of && is an int, not bool"),
        ("input.isJson || input.data", "an operand of || is a string, not bool"),
        ("!input.data", "the operand of ! is a string, not bool"),
        ("input.data ? true : false", "the condition of ?: is a string, not bool"),
        ("input.data.length > 3", "cannot select field 'length' of a string"),
        (
            "input.json.items.all(i, i.qty > 0 && payload)",
            "unknown variable payload: the variables are input, params, components",
        ),
        ("input.json.items.exists(i, i.qty > input.sise)", "unknown field input.sise (did you mean input.size?)"),
        (
            nested_all(MAX_MACRO_NESTING + 1),
            f"comprehensions (all/exists/exists_one/map/filter) are nested {MAX_MACRO_NESTING + 1} deep; "
            f"at most {MAX_MACRO_NESTING} are allowed",
        ),
    ],
)
def test_rules_that_can_never_work_are_invalid(when: str, message: str) -> None:
    assert check_static(when) == message
    assert compile_error(when) == f"CEL check error: {message}"
    assert check_expression(when) == f"CEL check error: {message}"


def test_issue_rule_seven_deep_is_invalid_at_compile() -> None:
    """The issue's rule: 7 nested `.all()` (each level x10; 6.5 s on the event loop)."""
    when = nested_all(7)
    compiled = compile_rule("slow", RoutingRuleSpec(when=when, path=["x"]))
    assert compiled.error is not None
    assert "nested 7 deep; at most 3 are allowed" in compiled.error


@pytest.mark.parametrize(
    "when",
    [
        "input.size > 5000",
        'input.isJson && input.json.kind == "order"',
        'input.labels["team"] == "a" && input.labels.team == "a"',
        'input.contentType.startsWith("application/json") || input.data.contains("x")',
        'input.data.matches("^[0-9]+$") && size(input.data) < 10 && input.data.size() < 10',
        "has(input.json.kind) && input.json.kind in ['a', 'b']",
        "input.json.items.all(i, i.qty > 0)",
        "input.json.items.map(i, i.qty).exists(q, q > 3)",
        "input.json.items.exists(i, i.tags.all(t, t.size() > 0))",
        "input.json.m.all(k, v, v > 1)",  # two-variable comprehension: both are bound
        "input.json.items.exists_one(x, x == 1) || [1, 2].filter(x, x > 1).size() == 1",
        "type(input.json) == map && input.json != null",
        "input.json.kind",  # dyn: only known when run (an error then, see test_routing)
        "input.isJson ? input.json.total > 10 : input.size > 10",
        "-input.size < 0 && input.size % 2 == 0 && input.size * 2 > input.size / 2",
        "x.all(a, a) == true".replace("x", "input.json"),
        'input["size"] > 1 && input[input.data] == 1',
        nested_all(MAX_MACRO_NESTING),
        "true",
    ],
)
def test_good_rules_stay_valid(when: str) -> None:
    assert check_static(when) is None
    assert compile_error(when) is None


def documented_rules() -> list[str]:
    """Every `when:` of the README and the example manifests."""
    found = re.findall(r"^\s*when: (.+?)\s*(?:#.*)?$", (ROOT / "README.md").read_text(), re.MULTILINE)
    rules = [yaml.safe_load(text) for text in found]
    for path in sorted((ROOT / "manifests" / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "RoutingRule":
                rules.append(document["spec"]["when"])
    return rules


def test_readme_and_example_rules_stay_valid() -> None:
    rules = documented_rules()
    assert len(rules) >= 3
    for when in rules:
        assert compile_error(when) is None, when


def test_length_limit_is_checked_before_compiling() -> None:
    when = "true && " * (MAX_WHEN // 8) + "true"
    assert len(when) > MAX_WHEN
    assert check_expression(when) == f"CEL expression is {len(when)} characters long; at most {MAX_WHEN} are allowed"


def test_what_the_grammar_cannot_parse_is_left_to_the_runtime() -> None:
    # the runtime compiled it or said why; the checker never invents a second opinion on syntax
    assert check_static("input.size >") is None


TOKENS = [
    "input",
    ".",
    "size",
    "data",
    "json",
    "labels",
    "sizee",
    "payload",
    "x",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "?",
    "&&",
    "||",
    "!",
    "-",
    "+",
    "*",
    "==",
    "<",
    " in ",
    "1",
    "2u",
    "1.5",
    '"s"',
    "b'b'",
    "true",
    "null",
    ".all(",
    ".exists(",
    ".map(",
    ".filter(",
    "has(",
    "size(",
    "int(",
    "type(",
    "dyn(",
    "'''x'''",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25))
def test_checker_never_raises(tokens: list[str]) -> None:
    when = "".join(tokens)
    problem = check_static(when)
    assert problem is None or isinstance(problem, str)
    error = check_expression(when)  # the runtime and the checker together: a message or None, never an exception
    assert error is None or error.startswith(("CEL compile error: ", "CEL check error: "))
