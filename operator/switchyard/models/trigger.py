"""The Trigger kind: CloudEvents posted to the operator's ingest endpoint start Workflows (one per event or batch)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from switchyard.models.common import (
    MAX_EXPRESSION,
    ApiModel,
    Conditions,
    ShortText,
    StatusModel,
    Timestamp,
)
from switchyard.models.workflow import MAX_PARAMETERS, NotifySpec, WorkflowSpec, WorkflowTemplateRef

MAX_EVENT_TYPES = 64
MAX_BATCH_ITEMS = 1000
MAX_BATCH_WAIT_SECONDS = 3600

EventType = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class BatchSpec(ApiModel):
    """Group events into one Workflow: sealed at `maxItems` events or `maxWaitSeconds` after the first one."""

    max_items: Annotated[int, Field(ge=1, le=MAX_BATCH_ITEMS, description="Seal the batch at this many events.")] = 10
    max_wait_seconds: Annotated[
        int,
        Field(ge=1, le=MAX_BATCH_WAIT_SECONDS, description="Seal the batch this long after its first event."),
    ] = 10


# -- schedules (issue 23 item 2) ---------------------------------------------------------------------------

MAX_STARTING_DEADLINE_SECONDS = 366 * 24 * 3600
CronText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ScheduleSpec(ApiModel):
    """Start a Workflow at each tick of a cron schedule, as a Kubernetes CronJob does."""

    cron: CronText = Field(
        description="A cron expression of five fields (minute hour day-of-month month day-of-week), or @yearly, "
        "@monthly, @weekly, @daily, @hourly."
    )
    time_zone: TimeZoneName | None = Field(
        default=None, description="An IANA time zone (e.g. Europe/Paris) the cron is read in; unset: UTC."
    )
    starting_deadline_seconds: (
        Annotated[
            int,
            Field(
                ge=1,
                le=MAX_STARTING_DEADLINE_SECONDS,
                description="A tick missed (operator down, Forbid) is still started this many seconds late at "
                "most; unset: the latest missed tick always starts. At most one missed tick is started.",
            ),
        ]
        | None
    ) = None
    suspend: bool = Field(default=False, description="True: no tick starts a Workflow until it is False again.")


class TriggerSpec(ApiModel):
    event_types: Annotated[
        list[EventType],
        Field(max_length=MAX_EVENT_TYPES, description="CloudEvents `type`s accepted; empty accepts every type."),
    ] = []
    filter: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=MAX_EXPRESSION),
            Field(
                description="A CEL expression over `event` (id, source, type, subject, time, datacontenttype, "
                "data, extensions); the event is accepted when it is true."
            ),
        ]
        | None
    ) = None
    workflow_template: WorkflowSpec | None = Field(
        default=None,
        description="The spec of each Workflow created; its `input` is replaced by the event data (a JSON array "
        "of the items' data, in arrival order, for a batch). Or use `workflowTemplateRef`.",
    )
    workflow_template_ref: WorkflowTemplateRef | None = Field(
        default=None,
        description="Instead of an inline `workflowTemplate`: each Workflow runs this WorkflowTemplate with "
        "`arguments`, its input the event data (a batch's: the JSON array of its events' data).",
    )
    arguments: Annotated[
        dict[
            Annotated[str, StringConstraints(max_length=63)],
            Annotated[str, StringConstraints(max_length=MAX_EXPRESSION)],
        ],
        Field(
            max_length=MAX_PARAMETERS,
            description="NAME: a CEL expression whose value, as a string (a string as it is, a bool as "
            "true/false, anything else as compact JSON), is the argument of each Workflow's template parameter NAME. "
            "Over `event` (as in `filter`). With `batch`, evaluated when the batch's Workflow is created, from the "
            "persisted batch: `events` (its events in arrival order, each shaped as `event`, data parsed when JSON), "
            "`event` (its first event) and `batch` (size, id: the pending batch's name, openedAt). An argument "
            "that cannot be evaluated keeps the batch pending (lastError, a Warning Event) until the Trigger is fixed.",
        ),
    ] = {}
    notify: NotifySpec | None = Field(
        default=None,
        description="`notify` of every Workflow the Trigger creates: a CloudEvent to this sink when it finishes.",
    )
    batch: BatchSpec | None = Field(
        default=None,
        description="Group events into one Workflow per batch (its `arguments` also see `events` and `batch`); "
        "unset starts one Workflow per event.",
    )
    concurrency_policy: Annotated[
        ConcurrencyPolicy,
        Field(
            description="Allow: always start; Forbid: refuse (409) while a Workflow of this Trigger runs; "
            "Replace: delete the running ones first."
        ),
    ] = "Allow"
    max_running: (
        Annotated[
            int,
            Field(
                ge=1, le=10000, description="At most this many running Workflows; more events get 429 + Retry-After."
            ),
        ]
        | None
    ) = None
    history_limit: Annotated[
        int, Field(ge=0, le=1000, description="Finished Workflows kept; older ones are deleted.")
    ] = 10
    schedule: ScheduleSpec | None = Field(
        default=None,
        description="Also start a Workflow at each tick of this cron schedule (its input: the tick's "
        "scheduledTime). A Trigger with a schedule and no eventTypes takes no events.",
    )

    @model_validator(mode="after")
    def _one_template(self) -> TriggerSpec:
        if (self.workflow_template is None) == (self.workflow_template_ref is None):
            raise ValueError("a Trigger takes exactly one of workflowTemplate or workflowTemplateRef")
        if self.arguments and self.workflow_template_ref is None:
            raise ValueError("'arguments' are for a workflowTemplateRef")
        return self


class WorkflowCounts(StatusModel):
    """The stream statistics: Workflows of this Trigger by outcome (succeeded/failed are cumulative)."""

    running: Annotated[int, Field(ge=0, description="Workflows of this Trigger running now.")] = 0
    succeeded: Annotated[int, Field(ge=0, description="Workflows of this Trigger that succeeded.")] = 0
    failed: Annotated[int, Field(ge=0, description="Workflows of this Trigger that failed.")] = 0


class TriggerStatus(StatusModel):
    """The event stream, written by the operator: events received, accepted and refused, Workflows started."""

    received: Annotated[int, Field(ge=0, description="Events posted for this Trigger.")] = 0
    accepted: Annotated[
        int, Field(ge=0, description="Events accepted (a Workflow started, or the event joined a batch).")
    ] = 0
    rejected: Annotated[
        int, Field(ge=0, description="Events refused (filter false, invalid, over maxRunning, Forbid...).")
    ] = 0
    workflows_created: Annotated[int, Field(ge=0, description="Workflows this Trigger created.")] = 0
    batches_pending: Annotated[int, Field(ge=0, description="Open batches waiting to be sealed.")] = 0
    last_event_time: Timestamp | None = Field(default=None, description="When the latest event arrived.")
    last_error: ShortText | None = Field(default=None, description="Why the latest refused event was refused.")
    workflows: WorkflowCounts = Field(default_factory=WorkflowCounts, description="Its Workflows by outcome.")
    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    conditions: Conditions = Field(default=[], description="Ready: the spec is valid and events are accepted.")
    last_schedule_time: Timestamp | None = Field(
        default=None, description="The latest schedule tick a Workflow was started for."
    )
    next_schedule_time: Timestamp | None = Field(
        default=None, description="The next schedule tick (unset: no schedule, or suspended)."
    )
