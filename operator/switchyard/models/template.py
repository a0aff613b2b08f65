"""The WorkflowTemplate kind: a Workflow spec written once, with parameters, run by Workflows that name it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from switchyard.models.common import ApiModel, Conditions, StatusModel
from switchyard.models.workflow import MAX_PARAMETERS, ParamName, ParamValue, WorkflowSpec

MAX_ENUM = 64


class Parameter(ApiModel):
    """One parameter of the template: `{{params.NAME}}` in node configs and the input, `params.NAME` in CEL."""

    name: ParamName = Field(description="The parameter's name (letters, digits and `_`, not starting with a digit).")
    description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="What the parameter is for, for people."
    )
    default: ParamValue | None = Field(
        default=None, description="Its value when a Workflow gives none; without a default the parameter is required."
    )
    enum: Annotated[list[ParamValue], Field(max_length=MAX_ENUM)] | None = Field(
        default=None, description="The values allowed; any other argument makes the Workflow Invalid."
    )

    @model_validator(mode="after")
    def _default_allowed(self) -> Parameter:
        if self.enum is not None and self.default is not None and self.default not in self.enum:
            raise ValueError(f"parameter '{self.name}': default {self.default!r} is not one of its enum {self.enum}")
        return self


class WorkflowTemplateSpec(ApiModel):
    parameters: Annotated[
        list[Parameter],
        Field(max_length=MAX_PARAMETERS, description="The parameters a Workflow running this template gives."),
    ] = []
    workflow: WorkflowSpec = Field(
        description="The Workflow spec each run gets, with `{{params.NAME}}` replaced in node `config` strings and "
        "`input.data`."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> WorkflowTemplateSpec:
        seen: set[str] = set()
        for parameter in self.parameters:
            if parameter.name in seen:
                raise ValueError(f"parameter '{parameter.name}' is declared twice")
            seen.add(parameter.name)
        return self


class WorkflowTemplateStatus(StatusModel):
    """Whether the template can run, written by the operator."""

    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(
        default=[], description="Ready: the template's spec is valid (checked as a Workflow's would be)."
    )
