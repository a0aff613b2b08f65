"""CRD structural-schema handling for the emulated API server: pruning, defaulting, validation, CEL rules.

``admit(body, schema, old)`` does what the API server does to a custom resource before storing it: drop
fields the schema does not know (unless ``x-kubernetes-preserve-unknown-fields``), drop nulls on
non-nullable fields, apply ``default``s, then validate ``type``, ``required``, ``enum``, ``pattern``,
``format: date-time``, length/item/property/number bounds, ``anyOf``/``oneOf``/``allOf``/``not``,
``x-kubernetes-int-or-string``, list-map key uniqueness, and ``x-kubernetes-validations`` CEL rules (with
``oldSelf`` on updates: transition rules run only when an old value exists). A rule that the CEL library
cannot evaluate is skipped and reported in ``Admission.skipped_rules``, never a false rejection.
Only ``apiVersion``/``kind``/``metadata`` at the root are left alone.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_MISSING = object()


@dataclass
class Admission:
    body: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field path, message)
    skipped_rules: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)  # unknown fields removed (``spec.foo``), for fieldValidation


def admit(body: Mapping[str, Any], schema: Mapping[str, Any] | None, old: Mapping[str, Any] | None = None) -> Admission:
    """Prune, default and validate a custom resource against its version's openAPIV3Schema."""
    result = Admission(copy.deepcopy(dict(body)))
    if not schema:
        return result
    properties = schema.get("properties") or {}
    for key in list(result.body):
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key not in properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
            del result.body[key]
            result.pruned.append(key)
    _default(result.body, schema)
    for key, sub in properties.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in result.body:
            old_value = old.get(key, _MISSING) if old is not None else _MISSING
            result.body[key] = _walk(result.body[key], sub, key, old_value, result)
    for key in schema.get("required") or []:
        if key not in result.body:
            result.errors.append((key, "Required value"))
    rules_self = {k: v for k, v in result.body.items() if k not in ("apiVersion", "kind", "metadata")}
    _rules(rules_self, schema, "<root>", _MISSING, result)
    return result


def _default(value: dict[str, Any], schema: Mapping[str, Any]) -> None:
    for key, sub in (schema.get("properties") or {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])


def _type_ok(value: Any, expected: str | None, schema: Mapping[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if expected is None:
        return True
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return True


def _walk(value: Any, schema: Mapping[str, Any], path: str, old: Any, result: Admission) -> Any:
    """Prune/default ``value`` in place where possible, record errors, return the admitted value."""
    expected = schema.get("type")
    if not _type_ok(value, expected, schema):
        result.errors.append((path, f"Invalid value: {_short(value)}: must be of type {expected}"))
        return value
    if isinstance(value, dict) and (expected == "object" or "properties" in schema):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for key in list(value):
            sub = properties.get(key) if key in properties else additional if isinstance(additional, Mapping) else None
            if sub is None:
                if not (additional is True or preserve):
                    del value[key]  # pruned: unknown to the schema
                    result.pruned.append(f"{path}.{key}")
            elif value[key] is None and not sub.get("nullable"):
                del value[key]  # nulls on non-nullable fields are pruned, as the API server does
        _default(value, schema)
        old_map = old if isinstance(old, dict) else {}
        for key in list(value):
            sub = properties.get(key) if key in properties else additional if isinstance(additional, Mapping) else None
            if sub is not None and value[key] is not None:
                value[key] = _walk(value[key], sub, f"{path}.{key}", old_map.get(key, _MISSING), result)
        for key in schema.get("required") or []:
            if key not in value:
                result.errors.append((f"{path}.{key}", "Required value"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            result.errors.append((path, f"Too many: {len(value)}: must have at most {schema['maxProperties']} items"))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            result.errors.append((path, f"Invalid value: must have at least {schema['minProperties']} properties"))
    elif isinstance(value, list):
        items = schema.get("items")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        old_items: dict[tuple[Any, ...], Any] = {}
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
            old_items = {tuple(item.get(k) for k in keys): item for item in old if isinstance(item, dict)}
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                key = tuple(item.get(k) for k in keys) if keys and isinstance(item, dict) else None
                old_item = old_items.get(key, _MISSING) if key is not None else _MISSING
                if item is not None:
                    value[index] = _walk(item, items, f"{path}[{index}]", old_item, result)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            result.errors.append((path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            result.errors.append((path, f"Invalid value: must have at least {schema['minItems']} items"))
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "map" and keys:
            seen = [tuple(item.get(k) for k in keys) for item in value if isinstance(item, dict)]
            if len(seen) != len(set(seen)):
                result.errors.append((path, "Duplicate value: list-map keys must be unique"))
        elif list_type == "set" and len({repr(v) for v in value}) != len(value):
            result.errors.append((path, "Duplicate value: set items must be unique"))
    elif isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            result.errors.append((path, f"Too long: may not be longer than {schema['maxLength']}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            result.errors.append(
                (path, f"Invalid value: {_short(value)}: must be at least {schema['minLength']} chars")
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            result.errors.append((path, f"Invalid value: {_short(value)}: should match '{schema['pattern']}'"))
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            result.errors.append((path, f"Invalid value: {_short(value)}: must be a date-time"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "maximum" in schema:
            too_big = value >= schema["maximum"] if schema.get("exclusiveMaximum") else value > schema["maximum"]
            if too_big:
                result.errors.append(
                    (path, f"Invalid value: {value}: must be less than or equal to {schema['maximum']}")
                )
        if "minimum" in schema:
            too_small = value <= schema["minimum"] if schema.get("exclusiveMinimum") else value < schema["minimum"]
            if too_small:
                result.errors.append(
                    (path, f"Invalid value: {value}: must be greater than or equal to {schema['minimum']}")
                )
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        result.errors.append((path, f"Unsupported value: {_short(value)}: supported values: {allowed}"))
    _combinators(value, schema, path, result)
    _rules(value, schema, path, old, result)
    return value


def _valid(value: Any, schema: Mapping[str, Any]) -> bool:
    probe = Admission({})
    _walk(copy.deepcopy(value), schema, "", _MISSING, probe)
    return not probe.errors


def _combinators(value: Any, schema: Mapping[str, Any], path: str, result: Admission) -> None:
    if "anyOf" in schema and not any(_valid(value, sub) for sub in schema["anyOf"]):
        result.errors.append((path, "Invalid value: must validate at least one schema (anyOf)"))
    if "oneOf" in schema and sum(_valid(value, sub) for sub in schema["oneOf"]) != 1:
        result.errors.append((path, "Invalid value: must validate one and only one schema (oneOf)"))
    for sub in schema.get("allOf") or []:
        if not _valid(value, sub):
            result.errors.append((path, "Invalid value: must validate all the schemas (allOf)"))
    if "not" in schema and _valid(value, schema["not"]):
        result.errors.append((path, "Invalid value: must not validate the schema (not)"))


@functools.lru_cache(maxsize=1024)
def _program(expression: str) -> Any:
    """A rule compiled once (as the API server compiles a CRD's rules when it loads the CRD): compiling it on
    every write was ~7x the cost of running it, and the largest part of a custom resource's admission."""
    return cel.compile(expression)


@functools.lru_cache(maxsize=1024)
def _transition(expression: str) -> bool:
    """Whether the rule reads `oldSelf` (a transition rule)."""
    return re.search(r"\boldSelf\b", expression) is not None


def _rules(value: Any, schema: Mapping[str, Any], path: str, old: Any, result: Admission) -> None:
    if old is not _MISSING and value == old:
        return  # validation ratcheting (Kubernetes 1.30+): rules on an unchanged value are not run again
    for rule in schema.get("x-kubernetes-validations") or []:
        expression = rule.get("rule", "")
        transition = _transition(expression)
        if transition and old is _MISSING:
            continue
        variables = {"self": value, **({"oldSelf": old} if transition else {})}
        try:
            passed = _program(expression).execute(variables)
        except Exception as e:  # a CEL library gap must not reject valid objects: report, skip
            result.skipped_rules.append(f"{path}: {expression}: {e}")
            continue
        if passed is not True:
            message = rule.get("message") or f"failed rule: {expression}"
            where = path if path != "<root>" else ""
            result.errors.append((f"{where}{rule.get('fieldPath', '')}" or "<root>", f"Invalid value: {message}"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
