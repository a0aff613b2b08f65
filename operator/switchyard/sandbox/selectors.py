"""Label and field selectors as the Kubernetes API evaluates them (for the emulated API server).

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``.
Field selectors: ``path=v``, ``path==v``, ``path!=v`` over any simple dotted path (``metadata.name``,
``status.phase``, ``involvedObject.uid``); a missing field compares as the empty string, as in Kubernetes.
"""

from __future__ import annotations

import functools
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
                checks.append(functools.partial(_label_in, key=key, values=values))
            else:
                checks.append(functools.partial(_label_not_in, key=key, values=values))
        elif match := _EQ_TERM.match(term):
            key, op, value = match.group(1), match.group(2), match.group(3)
            if op == "!=":
                checks.append(functools.partial(_label_is_not, key=key, value=value))
            else:
                checks.append(functools.partial(_label_is, key=key, value=value))
        elif match := _EXISTS_TERM.match(term):
            key = match.group(2)
            if match.group(1):
                checks.append(functools.partial(_label_absent, key=key))
            else:
                checks.append(functools.partial(_label_present, key=key))
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
            checks.append(functools.partial(_field_is_not, path=path, value=value))
        else:
            checks.append(functools.partial(_field_is, path=path, value=value))

    def predicate(body: Mapping[str, Any]) -> bool:
        return all(check(body) for check in checks)

    return predicate


def _label_in(labels: Mapping[str, str], key: str, values: set[str]) -> bool:
    return key in labels and labels[key] in values


def _label_not_in(labels: Mapping[str, str], key: str, values: set[str]) -> bool:
    return key not in labels or labels[key] not in values


def _label_is(labels: Mapping[str, str], key: str, value: str) -> bool:
    return labels.get(key) == value


def _label_is_not(labels: Mapping[str, str], key: str, value: str) -> bool:
    return labels.get(key) != value


def _label_present(labels: Mapping[str, str], key: str) -> bool:
    return key in labels


def _label_absent(labels: Mapping[str, str], key: str) -> bool:
    return key not in labels


def _field_is(body: Mapping[str, Any], path: str, value: str) -> bool:
    return field_value(body, path) == value


def _field_is_not(body: Mapping[str, Any], path: str, value: str) -> bool:
    return field_value(body, path) != value
