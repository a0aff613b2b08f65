"""Shared building blocks of the Switchyard API models: the base classes, conditions and limits.

Models are the single source of the CRD schemas (see `switchyard.schema`); they hold no Kubernetes I/O.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

# Limits that shape the schemas (and the operator's own checks).
MAX_NODES = 5000
MAX_DEPENDS_ON = 256
MAX_NAME = 63
MAX_COMPONENT_NAME = 253
MAX_INPUT_BYTES = 512 * 1024  # inline `input.data`, in UTF-8 bytes (the characters are bounded by it too)
MAX_CONFIGMAP_INPUT_BYTES = 1024 * 1024  # input read from `configMapKeyRef` (a ConfigMap's own limit), UTF-8 bytes
MAX_EXPRESSION = 4096
MAX_MESSAGE = 1024
MAX_ARGS = 64
MAX_ARG = 4096
MAX_CONDITIONS = 16
MAX_RESOURCES = 16  # resource names per requests/limits map

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A container resource name as Kubernetes accepts it: a standard one (cpu, memory, ephemeral-storage,
# hugepages-<size>) or an extended one, a qualified name with a domain prefix (nvidia.com/gpu).
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
STANDARD_RESOURCE = r"cpu|memory|ephemeral-storage|hugepages-[0-9]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?"
RESOURCE_NAME = (
    rf"^({STANDARD_RESOURCE}|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/{QUALIFIED_NAME})$"
)
MAX_RESOURCE_NAME = 253 + 1 + 63

NodeName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=DNS_LABEL)]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMPONENT_NAME, pattern=DNS_SUBDOMAIN)]
ShortText = Annotated[str, StringConstraints(max_length=MAX_MESSAGE)]
Timestamp = datetime

# A free-form JSON object stored as-is by the API server (x-kubernetes-preserve-unknown-fields).
FreeForm = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}),
]


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON shape the API server stores: camelCase keys, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


ELLIPSIS = "..."


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in '...' when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _max_length(schema: dict[str, Any]) -> int | None:
    if isinstance(schema.get("maxLength"), int):
        return int(schema["maxLength"])
    for option in schema.get("anyOf") or ():
        if option.get("type") == "string" and isinstance(option.get("maxLength"), int):
            return int(option["maxLength"])
    return None


@cache
def string_limits(model: type[BaseModel]) -> dict[str, int]:
    """Wire name -> maxLength of every string field of `model`, read from the schema the CRD is made of."""
    properties = model.model_json_schema(mode="validation", by_alias=True).get("properties", {})
    return {name: limit for name, schema in properties.items() if (limit := _max_length(schema)) is not None}


def fit_text(model: type[BaseModel], field: str, text: str) -> str:
    """`text` cut to the schema's maxLength of `model.field` (wire name): what a raw status patch must do."""
    limit = string_limits(model).get(field)
    return text if limit is None else truncate(text, limit)


class StatusModel(ApiModel):
    """Statuses are written by the operator; unknown keys (from newer operators) are kept, not rejected.

    Serializing a status cuts every string to its schema's maxLength, so no message the operator composes
    (a long cycle, a compiler error) can make a status write fail validation (422) over and over.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )

    @model_validator(mode="before")
    @classmethod
    def _cut_on_read(cls, data: Any) -> Any:
        """A status written by an older operator (or a hand edit) with an over-long string still loads."""
        if isinstance(data, dict):
            limits = string_limits(cls)
            data = {
                key: truncate(value, limits[key]) if isinstance(value, str) and key in limits else value
                for key, value in data.items()
            }
        return data

    @model_serializer(mode="wrap")
    def _bounded(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            limits = string_limits(type(self))
            by_field = {name: info.alias or name for name, info in type(self).model_fields.items()}
            for name, alias in by_field.items():
                for key in (alias, name):
                    value = data.get(key)
                    limit = limits.get(alias)
                    if isinstance(value, str) and limit is not None and len(value) > limit:
                        data[key] = truncate(value, limit)
        return data


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: Annotated[str, StringConstraints(max_length=316)] = Field(
        description="The aspect the condition reports: `Valid`, `Complete` and `Failed` on a Workflow, `Ready` on "
        "the other kinds."
    )
    status: ConditionStatus = Field(description="Whether the condition holds: True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=1024)] = Field(
        default="",
        description="A CamelCase word for why the condition is as it is (`Succeeded`, `NodeFailed`, `Stopped`...).",
    )
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        default="", description="What happened, for a person."
    )
    last_transition_time: Timestamp | None = Field(default=None, description="When `status` last changed.")
    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="The `metadata.generation` the condition was set for."
    )


Conditions = Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)]
