"""WorkflowTemplates: binding arguments, the substitution rule, merging the Workflow's own fields, checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchyard.logic import templates
from switchyard.logic.errors import InvalidSpec
from switchyard.models.template import Parameter, WorkflowTemplateSpec
from switchyard.models.workflow import WorkflowObjectSpec


def template(**workflow: Any) -> WorkflowTemplateSpec:
    return WorkflowTemplateSpec.model_validate(
        {
            "parameters": [
                {"name": "mode", "enum": ["fast", "slow"]},
                {"name": "size", "default": "16", "description": "chunk size"},
            ],
            "workflow": workflow
            or {
                "input": {"data": "run {{params.mode}}"},
                "nodes": [
                    {"name": "a", "component": "proc", "config": {"label": "{{ params.mode }}-{{params.size}}"}},
                    {
                        "name": "b",
                        "component": "proc",
                        "dependsOn": ["a"],
                        "config": {"deep": [{"x": "{{params.size}}"}, 3]},
                    },
                ],
                "parallelism": 3,
            },
        }
    )


def own(**spec: Any) -> WorkflowObjectSpec:
    return WorkflowObjectSpec.model_validate({"workflowTemplateRef": {"name": "t"}, **spec})


def test_arguments_and_defaults_are_substituted_in_configs_and_input() -> None:
    values, spec = templates.run_spec("t", template(), own(arguments={"mode": "fast"}))
    assert values == {"mode": "fast", "size": "16"}
    assert spec.input.data == "run fast"
    assert spec.nodes[0].config == {"label": "fast-16"}
    assert spec.nodes[1].config == {"deep": [{"x": "16"}, 3]}
    assert spec.parallelism == 3 and "routing" not in spec.model_fields_set


@pytest.mark.parametrize(
    ("arguments", "reason", "named"),
    [
        ({"mode": "fast", "colour": "red"}, "UnknownArgument", "argument 'colour' is not a parameter"),
        ({}, "MissingArgument", "argument 'mode' is required"),
        ({"mode": "medium"}, "ArgumentNotAllowed", "argument 'mode' is 'medium', not one of"),
    ],
)
def test_bad_arguments_are_invalid_naming_them(arguments: dict[str, str], reason: str, named: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        templates.run_spec("t", template(), own(arguments=arguments))
    assert caught.value.reason == reason
    assert named in caught.value.message and "workflowtemplate t" in caught.value.message


def test_values_are_not_expanded_again_and_nothing_is_evaluated() -> None:
    values = {"a": "{{params.b}}", "b": "B"}
    assert templates.substitute_text("x{{params.a}}y{{params.b}}", values) == "x{{params.b}}yB"
    assert templates.substitute_text("{{params.zz}} {{ params.a}} {params.a} {{param.a}}", values) == (
        "{{params.zz}} {{params.b}} {params.a} {{param.a}}"
    )
    assert templates.substitute_text("$(rm -rf /) {{params.a}}", {"a": "`id`"}) == "$(rm -rf /) `id`"


@given(st.text(max_size=30), st.text(max_size=30))
def test_substitution_puts_the_value_in_verbatim(prefix: str, value: str) -> None:
    text = prefix.replace("{", "") + "{{params.p}}"
    assert templates.substitute_text(text, {"p": value}) == prefix.replace("{", "") + value


def test_the_workflows_own_input_and_overrides_replace_the_templates() -> None:
    _, spec = templates.run_spec(
        "t",
        template(),
        own(
            arguments={"mode": "slow"},
            input={"data": "mine {{params.mode}}", "contentType": "application/json"},
            ttlSecondsAfterFinished=5,
            notify={"sink": {"uri": "http://127.0.0.1:1/x"}},
            parallelism=99,  # a CRD default on every Workflow, so not an override: the template's stays
        ),
    )
    assert spec.input.data == "mine {{params.mode}}"  # the Workflow's own text is not a template's
    assert spec.input.content_type == "application/json"
    assert spec.ttl_seconds_after_finished == 5 and spec.notify is not None
    assert spec.parallelism == 3 and spec.nodes[0].config == {"label": "slow-16"}


def test_a_substituted_input_over_the_limit_is_invalid() -> None:
    spec = template(input={"data": "{{params.mode}}" * 200}, nodes=[{"name": "a", "component": "p"}])
    spec.parameters[0] = Parameter(name="mode")
    with pytest.raises(InvalidSpec, match="input") as caught:
        templates.run_spec("t", spec, own(arguments={"mode": "x" * 4000}))
    assert caught.value.reason == "InvalidSpec" and "524288" in caught.value.message


def test_template_checks() -> None:
    assert templates.check_template(template()) is None
    undeclared = template(nodes=[{"name": "a", "component": "p", "config": {"x": "{{params.nope}}"}}])
    problem = templates.check_template(undeclared)
    assert problem is not None and problem.reason == "UndeclaredParameter" and "params.nope" in problem.message
    cycle = template(nodes=[{"name": "a", "component": "p", "dependsOn": ["a"]}])
    problem = templates.check_template(cycle)
    assert problem is not None and problem.reason == "SelfDependency"
    with pytest.raises(ValueError, match="not one of its enum"):
        Parameter(name="p", default="x", enum=["a"])
    with pytest.raises(ValueError, match="declared twice"):
        WorkflowTemplateSpec.model_validate(
            {"parameters": [{"name": "p"}, {"name": "p"}], "workflow": {"nodes": [{"name": "a", "component": "p"}]}}
        )


def test_a_workflow_with_a_template_takes_no_dag_and_arguments_need_a_template() -> None:
    with pytest.raises(ValueError, match="leave nodes and routing out"):
        own(nodes=[{"name": "a", "component": "p"}])
    with pytest.raises(ValueError, match="names no template"):
        WorkflowObjectSpec.model_validate({"arguments": {"a": "b"}, "nodes": [{"name": "a", "component": "p"}]})
