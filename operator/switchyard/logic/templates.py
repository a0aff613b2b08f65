"""WorkflowTemplates: bind a Workflow's arguments to a template's parameters and substitute them (pure).

The rule: `{{params.NAME}}` (spaces allowed inside the braces) in a node's `config` string values (at any depth,
keys untouched) and in `input.data` is replaced by the parameter's value, a string, verbatim. It is one pass over
the template's text: a value that itself contains `{{params.X}}` is never expanded again, and nothing is
evaluated (no expressions, no shell). A reference to a parameter the template does not declare is an error of
the template. In CEL (RoutingRules) the values are the map `params` (strings).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.models.template import Parameter, WorkflowTemplateSpec
from switchyard.models.workflow import WorkflowObjectSpec, WorkflowSpec

PLACEHOLDER = re.compile(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# The Workflow's own fields that replace the template's when the Workflow sets them (wire names).
OVERRIDES = ("notify", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "artifactStore", "reuse")


def _names(parameters: Sequence[Parameter]) -> str:
    return ", ".join(p.name for p in parameters) or "none"


def bind(template: str, parameters: Sequence[Parameter], arguments: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value (the argument, else the default); InvalidSpec naming the first bad argument."""
    declared = {p.name: p for p in parameters}
    for name in sorted(arguments):
        if name not in declared:
            raise InvalidSpec(
                "UnknownArgument",
                f"argument '{name}' is not a parameter of workflowtemplate {template} "
                f"(its parameters: {_names(parameters)})",
            )
    values: dict[str, str] = {}
    for parameter in parameters:
        value = arguments.get(parameter.name, parameter.default)
        if value is None:
            raise InvalidSpec(
                "MissingArgument",
                f"argument '{parameter.name}' is required by workflowtemplate {template} "
                "(the parameter has no default)",
            )
        if parameter.enum is not None and value not in parameter.enum:
            allowed = ", ".join(repr(v) for v in parameter.enum)
            raise InvalidSpec(
                "ArgumentNotAllowed",
                f"argument '{parameter.name}' is {value!r}, not one of the values workflowtemplate {template} "
                f"allows: {allowed}",
            )
        values[parameter.name] = value
    return values


def substitute_text(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{{params.NAME}}` replaced by its value (one pass; an unknown NAME stays as written)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """A JSON value with every string in it substituted (dict keys are left alone)."""
    if isinstance(value, str):
        return substitute_text(value, values)
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(spec: WorkflowSpec) -> set[str]:
    """The parameter names the spec's node configs and input data refer to."""
    texts = [text for node in spec.nodes for text in _strings(node.config)]
    if spec.input.data is not None:
        texts.append(spec.input.data)
    return {match.group(1) for text in texts for match in PLACEHOLDER.finditer(text)}


def wire(spec: WorkflowSpec) -> dict[str, Any]:
    """The spec as stored: fields left unset stay out (so `routing` never appears beside `nodes`)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


def resolve(spec: WorkflowSpec, values: Mapping[str, str]) -> dict[str, Any]:
    """The template's workflow with the values substituted, as a wire dict."""
    data = wire(spec)
    for node in data.get("nodes") or []:
        if "config" in node:
            node["config"] = substitute(node["config"], values)
    input_ = data.get("input") or {}
    if isinstance(input_.get("data"), str):
        input_["data"] = substitute_text(input_["data"], values)
    return data


def merge(resolved: dict[str, Any], own: WorkflowObjectSpec) -> dict[str, Any]:
    """The template's resolved spec under the Workflow's own input (when it has a source) and OVERRIDES."""
    data = dict(resolved)
    mine = wire(own)
    own_input = own.input
    if own_input.data is not None or own_input.config_map_key_ref is not None or own_input.artifact is not None:
        data["input"] = mine["input"]
    for key in OVERRIDES:
        if key in mine:
            data[key] = mine[key]
    return data


def run_spec(template: str, spec: WorkflowTemplateSpec, own: WorkflowObjectSpec) -> tuple[dict[str, str], WorkflowSpec]:
    """(the parameters' values, the spec the Workflow runs); InvalidSpec for a bad argument or result."""
    values = bind(template, spec.parameters, own.arguments)
    data = merge(resolve(spec.workflow, values), own)
    try:
        return values, WorkflowSpec.model_validate(data)
    except ValidationError as exc:  # e.g. the substituted input over 512 KiB
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InvalidSpec(
            "InvalidSpec", f"workflowtemplate {template} with these arguments: {where}: {first['msg']}"
        ) from exc


def check_template(spec: WorkflowTemplateSpec) -> InvalidSpec | None:
    """What keeps a template from running, checked as a Workflow's spec is (no Components are looked up)."""
    undeclared = sorted(references(spec.workflow) - {p.name for p in spec.parameters})
    if undeclared:
        return InvalidSpec(
            "UndeclaredParameter",
            f"{{{{params.{undeclared[0]}}}}} refers to no parameter (declared: {_names(spec.parameters)})",
        )
    if spec.workflow.nodes:
        try:
            Dag.build(spec.workflow.nodes)
        except InvalidSpec as exc:
            return exc
    return None
