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
from switchyard.models.stats import ComponentStats

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
    name: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ENV_NAME)] = Field(
        description="The environment variable's name."
    )
    value: Annotated[str, StringConstraints(max_length=MAX_ARG)] = Field(
        default="",
        description="Its value (plain text: never put a credential here; use a Secret mounted by other means).",
    )


class Resources(ApiModel):
    """Container requests and limits; names as Kubernetes takes them (`cpu`, `hugepages-2Mi`, `nvidia.com/gpu`)."""

    requests: ResourceList | None = Field(
        default=None, description="Resources the container is guaranteed (`cpu: 100m`, `memory: 64Mi`)."
    )
    limits: ResourceList | None = Field(
        default=None,
        description="Resources the container may use at most; an extended resource's limit equals its request.",
    )

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

    initial_seconds: Annotated[float, Field(ge=0, le=86400, description="The delay before the first retry.")] = 1
    factor: Annotated[
        float, Field(ge=1, le=100, description="Each further delay is this many times the previous one.")
    ] = 2
    max_seconds: Annotated[float, Field(ge=0, le=86400, description="No delay is longer than this.")] = 300

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
    backoff: Backoff = Field(default_factory=Backoff, description="The delay between attempts.")


class CircuitBreakerPolicy(ApiModel):
    failure_threshold: Annotated[
        int,
        Field(ge=1, le=10000, description="Open the breaker after this many consecutive failed runs of the component."),
    ] = 5
    open_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=86400,
            description="How long the breaker stays Open (nodes fall back or fail with CircuitOpen) before it turns "
            "HalfOpen.",
        ),
    ] = 60
    half_open_max_runs: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Trial runs allowed at once while HalfOpen; a success closes the breaker, a failure opens "
            "it again.",
        ),
    ] = 1


class Fallback(ApiModel):
    """What a node does while its component's breaker is open: run another component, or emit a static output."""

    component: ObjectName | None = Field(default=None, description="Run this Component instead.")
    output: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="Use this text as the node's output instead of running anything."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Fallback:
        if (self.component is None) == (self.output is None):
            raise ValueError("fallback needs exactly one of 'component' or 'output'")
        return self


class CacheSpec(ApiModel):
    enabled: bool = Field(
        default=False,
        description="Reuse the result and artifacts of an earlier run of the same work (same image, command, args, "
        "env, merged config, input and upstream artifacts, and `version`) in this namespace instead of running "
        "a Job: the node is Succeeded with reason Cached. Needs the Workflow's artifact store (entries live in it).",
    )
    version: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, description="Part of the cache key: change it to make every earlier entry a miss."
    )
    max_age_seconds: Annotated[int, Field(ge=1, le=365 * 86400)] | None = Field(
        default=None, description="An entry older than this is a miss (unset: entries do not expire)."
    )


class ComponentSpec(ApiModel):
    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The container image of the processor."
    )
    command: Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_ARG)]],
        Field(max_length=MAX_ARGS, description="The container's command (its entrypoint), as in a Pod spec."),
    ] = []
    args: Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_ARG)]],
        Field(max_length=MAX_ARGS, description="The container's arguments, as in a Pod spec."),
    ] = []
    env: Annotated[list[EnvVar], Field(max_length=MAX_ARGS, description="Environment variables of the container.")] = []
    config: FreeForm = Field(
        default={},
        description="Default configuration of every run; a node's `config` is merged over it (nested objects key by "
        "key).",
    )
    resources: Resources | None = Field(default=None, description="The container's resource requests and limits.")
    timeout_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] | None = Field(
        default=None, description="An attempt running longer than this fails (the Job's activeDeadlineSeconds)."
    )
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
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="How often and how soon a failed attempt is retried."
    )
    cache: CacheSpec = Field(
        default_factory=CacheSpec, description="The content-addressed result cache of this component's runs."
    )
    circuit_breaker: CircuitBreakerPolicy = Field(
        default_factory=CircuitBreakerPolicy,
        description="When to stop running this component after repeated failures, and for how long.",
    )
    fallback: Fallback | None = Field(
        default=None,
        description="What a node does while the breaker is open; without one the node fails with CircuitOpen.",
    )
    service_account_name: NodeName | None = Field(
        default=None, description="The Pods' service account; unset runs them without an API token."
    )
    max_concurrent_runs: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        default=None,
        description="At most this many Jobs of this component run at once in the namespace, across all "
        "Workflows (its fallback's and retries' Jobs count for the component they run); unset: no limit. A ready "
        "node beyond it stays Pending (reason WaitingForComponent) until a Job of the component ends; waiting "
        "nodes start first come, first served by when they became ready (`readyAt`).",
    )


BreakerState = Literal["Closed", "Open", "HalfOpen"]


class FailureRecord(StatusModel):
    workflow: str = Field(default="", description="The Workflow whose run failed.")
    node: str = Field(default="", description="The node whose run failed.")
    reason: ShortText = Field(default="", description="Why it failed.")
    time: Timestamp | None = Field(default=None, description="When it failed.")


class TrialRun(StatusModel):
    """A HalfOpen trial run in flight: its slot is released when it ends, whichever way it ends."""

    workflow: Annotated[str, StringConstraints(max_length=253)] = Field(
        default="", description="The Workflow of the trial run."
    )
    node: Annotated[str, StringConstraints(max_length=63)] = Field(default="", description="The node of the trial run.")
    started_at: Timestamp | None = Field(default=None, description="When the trial run started.")


class BreakerStatus(StatusModel):
    state: BreakerState = Field(
        default="Closed",
        description="Closed (runs normally), Open (no runs: nodes fall back) or HalfOpen (a few trial runs decide).",
    )
    consecutive_failures: Annotated[int, Field(ge=0, description="Failed runs since the last success.")] = 0
    opened_at: Timestamp | None = Field(default=None, description="When the breaker last opened.")
    half_open_runs: Annotated[int, Field(ge=0, description="Trial runs in flight since HalfOpen.")] = 0
    trials: Annotated[list[TrialRun], Field(max_length=1000, description="The trial runs in flight.")] = []
    last_failure: FailureRecord | None = Field(default=None, description="The latest failed run.")


class ComponentStatus(StatusModel):
    """The component's health, written by the operator: its circuit breaker and run counts."""

    breaker: BreakerStatus = Field(
        default_factory=BreakerStatus, description="The circuit breaker of this component (in this namespace)."
    )
    runs: Annotated[int, Field(ge=0, description="Finished runs of this component, counted by the breaker.")] = 0
    failures: Annotated[int, Field(ge=0, description="Failed runs of this component, counted by the breaker.")] = 0
    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(default=[], description="Ready: the spec is valid and the component can run.")
    running: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="With `maxConcurrentRuns`: the component's Jobs running now in the namespace."
    )
    waiting: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="With `maxConcurrentRuns`: ready nodes waiting for one of them to end."
    )
    stats: ComponentStats | None = Field(
        default=None,
        description="Run statistics the operator keeps from the Jobs it sees finish: counts, recent failure rate, "
        "run time percentiles; reset when the spec changes.",
    )
