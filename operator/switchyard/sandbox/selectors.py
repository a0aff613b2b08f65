"""Label and field selectors as the Kubernetes API evaluates them (for the emulated API server).

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``.
Field selectors: ``path=v``, ``path==v``, ``path!=v`` over any simple dotted path (``metadata.name``,
``status.phase``, ``involvedObject.uid``); a missing field compares as the empty string, as in Kubernetes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=,()]+)\s*(==|!=|=)\s*([^\s,()]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*$")


class SelectorError(ValueError):
    """The selector cannot be parsed (the API server answers 400 BadRequest)."""


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` parentheses."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def parse_label_selector(selector: str | None) -> Predicate:
    """Compile a label selector string into a predicate over an object body."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split_terms(selector or ""):
        if match := _SET_TERM.match(term):
            if match.group(1):
                raise SelectorError(f"invalid label selector term: {term!r}")
            key, op = match.group(2), match.group(3)
            values = {value.strip() for value in match.group(4).split(",") if value.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: k in labels and labels[k] in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: k not in labels or labels[k] not in vs)
        elif match := _EQ_TERM.match(term):
            key, op, value = match.group(1), match.group(2), match.group(3)
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif match := _EXISTS_TERM.match(term):
            key = match.group(2)
            if match.group(1):
                checks.append(lambda labels, k=key: k not in labels)
            else:
                checks.append(lambda labels, k=key: k in labels)
        else:
            raise SelectorError(f"invalid label selector term: {term!r}")

    def predicate(body: Mapping[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return predicate


def field_value(body: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field path, as field selectors compare it ("" when absent)."""
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: str | None) -> Predicate:
    """Compile a field selector string into a predicate over an object body."""
    checks: list[Predicate] = []
    for term in _split_terms(selector or ""):
        match = _EQ_TERM.match(term)
        if not match:
            raise SelectorError(f"invalid field selector term: {term!r}")
        path, op, value = match.group(1), match.group(2), match.group(3)
        if op == "!=":
            checks.append(lambda body, p=path, v=value: field_value(body, p) != v)
        else:
            checks.append(lambda body, p=path, v=value: field_value(body, p) == v)

    def predicate(body: Mapping[str, Any]) -> bool:
        return all(check(body) for check in checks)

    return predicate
