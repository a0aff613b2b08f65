"""The Component kind: a registered processor type (image, command, retry, breaker, fallback)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from switchyard.models.common import (
    ENV_NAME,
    MAX_ARG,
    MAX_ARGS,
    MAX_RESOURCE_NAME,
    MAX_RESOURCES,
    RESOURCE_NAME,
    ApiModel,
    Conditions,
    FreeForm,
    NodeName,
    ObjectName,
    ShortText,
    StatusModel,
    Timestamp,
)

# int-or-string on the wire; kept as a string, the form a Pod's resources take (`1` -> "1").
Quantity = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
    AfterValidator(str),
]
_RESOURCE_NAME = re.compile(RESOURCE_NAME)


def _resource_names(resources: dict[str, int | str]) -> dict[str, int | str]:
    # Checked here, not as a key pattern: structural CRD schemas have no patternProperties.
    for name in resources:
        if len(name) > MAX_RESOURCE_NAME or not _RESOURCE_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a container resource name: use cpu, memory, ephemeral-storage, hugepages-<size> "
                "or an extended resource with a domain prefix (example.com/gpu)"
            )
    return resources


ResourceList = Annotated[dict[str, Quantity], Field(max_length=MAX_RESOURCES), AfterValidator(_resource_names)]


def _whole(quantity: int | str) -> int | None:
    """A quantity that is a plain whole number (as extended resources are), else None (left to Kubernetes)."""
    text = str(quantity).strip()
    return int(text) if text.isdigit() else None


def is_extended_resource(name: str) -> bool:
    """Extended resources (`vendor.example/thing`) are counted, never overcommitted: requests equal limits."""
    return "/" in name


class EnvVar(ApiModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ENV_NAME)]
    value: Annotated[str, StringConstraints(max_length=MAX_ARG)] = ""


class Resources(ApiModel):
    """Container requests and limits; names as Kubernetes takes them (`cpu`, `hugepages-2Mi`, `nvidia.com/gpu`)."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _kubernetes_rules(self) -> Resources:
        requests, limits = self.requests or {}, self.limits or {}
        for name in sorted({*requests, *limits}):
            if name.split("/", 1)[0].endswith("kubernetes.io") and is_extended_resource(name):
                raise ValueError(f"resource {name!r}: the kubernetes.io domain is reserved for native resources")
        for name, request in sorted(requests.items()):
            if not is_extended_resource(name):
                continue
            if name not in limits:
                raise ValueError(f"extended resource {name!r} needs a limit equal to its request")
            limit = _whole(limits[name])
            if limit is not None and _whole(request) is not None and limit != _whole(request):
                raise ValueError(f"extended resource {name!r}: the request must equal the limit (no overcommit)")
        return self


class Backoff(ApiModel):
    """Exponential backoff: delay = min(initialSeconds * factor^(attempt-1), maxSeconds)."""

    initial_seconds: Annotated[float, Field(ge=0, le=86400)] = 1
    factor: Annotated[float, Field(ge=1, le=100)] = 2
    max_seconds: Annotated[float, Field(ge=0, le=86400)] = 300

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> Backoff:
        if self.max_seconds < self.initial_seconds:
            raise ValueError(
                f"backoff maxSeconds ({self.max_seconds:g}) must not be less than initialSeconds "
                f"({self.initial_seconds:g})"
            )
        return self


class RetryPolicy(ApiModel):
    limit: Annotated[int, Field(ge=0, le=100, description="Retries after the first attempt.")] = 2
    backoff: Backoff = Field(default_factory=Backoff)


class CircuitBreakerPolicy(ApiModel):
    failure_threshold: Annotated[int, Field(ge=1, le=10000)] = 5
    open_seconds: Annotated[float, Field(ge=0, le=86400)] = 60
    half_open_max_runs: Annotated[int, Field(ge=1, le=1000)] = 1


class Fallback(ApiModel):
    """What a node does while its component's breaker is open: run another component, or emit a static output."""

    component: ObjectName | None = None
    output: Annotated[str, StringConstraints(max_length=4096)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Fallback:
        if (self.component is None) == (self.output is None):
            raise ValueError("fallback needs exactly one of 'component' or 'output'")
        return self


class ComponentSpec(ApiModel):
    image: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    command: Annotated[list[Annotated[str, StringConstraints(max_length=MAX_ARG)]], Field(max_length=MAX_ARGS)] = []
    args: Annotated[list[Annotated[str, StringConstraints(max_length=MAX_ARG)]], Field(max_length=MAX_ARGS)] = []
    env: Annotated[list[EnvVar], Field(max_length=MAX_ARGS)] = []
    config: FreeForm = {}
    resources: Resources | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] | None = None
    pending_timeout_seconds: Annotated[
        int,
        Field(
            ge=10,
            le=7 * 86400,
            description="A node's Pod that is not running this long after its Job was created (image pull "
            "back-off, unschedulable, no Pod at all) fails that attempt with the reason seen.",
        ),
    ] = 600
    runtime_estimate_seconds: (
        Annotated[
            float,
            Field(
                ge=0,
                le=30 * 86400,
                description="How long a run of this component usually takes (default 1). When more nodes are "
                "ready than a Workflow's parallelism allows, they start in the order of a schedule planned on these "
                "estimates: longest estimated remaining path first, improved where that order is not the shortest.",
            ),
        ]
        | None
    ) = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    fallback: Fallback | None = None
    service_account_name: NodeName | None = None


BreakerState = Literal["Closed", "Open", "HalfOpen"]


class FailureRecord(StatusModel):
    workflow: str = ""
    node: str = ""
    reason: ShortText = ""
    time: Timestamp | None = None


class TrialRun(StatusModel):
    """A HalfOpen trial run in flight: its slot is released when it ends, whichever way it ends."""

    workflow: Annotated[str, StringConstraints(max_length=253)] = ""
    node: Annotated[str, StringConstraints(max_length=63)] = ""
    started_at: Timestamp | None = None


class BreakerStatus(StatusModel):
    state: BreakerState = "Closed"
    consecutive_failures: Annotated[int, Field(ge=0)] = 0
    opened_at: Timestamp | None = None
    half_open_runs: Annotated[int, Field(ge=0, description="Trial runs in flight since HalfOpen.")] = 0
    trials: Annotated[list[TrialRun], Field(max_length=1000, description="The trial runs in flight.")] = []
    last_failure: FailureRecord | None = None


class ComponentStatus(StatusModel):
    breaker: BreakerStatus = Field(default_factory=BreakerStatus)
    runs: Annotated[int, Field(ge=0)] = 0
    failures: Annotated[int, Field(ge=0)] = 0
    observed_generation: int | None = None
    conditions: Conditions = []
