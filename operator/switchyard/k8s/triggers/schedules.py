"""Schedule ticks of Triggers at run time: each housekeeping round asks `logic.schedule.plan` which tick is due
and starts its Workflow through `runs.start` (concurrencyPolicy, maxRunning, historyLimit as for events).

Exactly one Workflow per tick: its name is the tick's (`tick_name`), so a tick started before a crash, a
SIGKILL or a leader change is a 409 the next process takes as done. The Workflow is created FIRST and
`status.lastScheduleTime` written right after; a crash in between only makes the next process meet the 409.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.triggers.runs import TriggerRuns, workflow_spec
from switchyard.k8s.triggers.state import TriggerEntry, TriggerState
from switchyard.logic import schedule as logic
from switchyard.logic.conditions import truncate
from switchyard.logic.triggerargs import tick_arguments
from switchyard.logic.triggers import JSON, EventRejected
from switchyard.models.common import MAX_MESSAGE
from switchyard.models.labels import ANNOTATION_SCHEDULED

RETRY_SECONDS = 2.0  # a tick refused by Forbid or maxRunning is tried again this often, until its deadline
log = logging.getLogger("switchyard.triggers")

Warn = Callable[[TriggerEntry, str, str], Awaitable[None]]


class Schedules:
    """Start the due ticks of every Trigger with a schedule."""

    def __init__(self, api: Api, runs: TriggerRuns, clock: Callable[[], datetime], warn: Warn) -> None:
        self.api = api
        self.runs = runs
        self.clock = clock
        self.warn = warn

    async def run_due(self, states: dict[tuple[str, str], TriggerState]) -> None:
        for key, state in list(states.items()):
            try:
                await self.tick(state)
            except (ApiException, ApiTrouble) as exc:
                log.warning("trigger %s/%s: schedule tick not started (will retry): %s", *key, exc)

    async def tick(self, state: TriggerState) -> None:
        entry = state.entry
        spec = entry.spec if entry is not None else None
        schedule_spec = spec.schedule if spec is not None else None
        if entry is None or spec is None or schedule_spec is None or entry.schedule is None or not entry.ready:
            if state.schedule_next is not None:
                state.schedule_next, state.stats.dirty = None, True
            return
        now = self.clock()
        tick = logic.plan(entry.schedule, schedule_spec, state.stats.last_schedule_time, entry.created, now)
        if tick.next_tick != state.schedule_next:
            state.schedule_next, state.stats.dirty = tick.next_tick, True
        if tick.missed is not None and state.schedule_missed != tick.missed:
            state.schedule_missed = tick.missed
            await self.warn(
                entry,
                "MissedSchedule",
                f"the tick of {logic.wire_time(tick.missed)} was not started: it is more than "
                f"startingDeadlineSeconds ({schedule_spec.starting_deadline_seconds}) late",
            )
        if tick.due is None:
            return
        loop_time = asyncio.get_running_loop().time()
        if state.schedule_waiting == tick.due and loop_time < state.schedule_retry_at:
            return
        name = logic.tick_name(entry.name, tick.due)
        data = json.dumps(logic.tick_input(entry.name, tick.due))
        annotations = {ANNOTATION_SCHEDULED: logic.wire_time(tick.due)}
        try:
            # a WorkflowTemplate's arguments as for an event, but there is none: only literals evaluate
            arguments = tick_arguments(spec.arguments) if spec.workflow_template_ref is not None else None
            await self.runs.start(state, entry, spec, name, workflow_spec(spec, data, JSON, arguments), annotations)
        except EventRejected as rejection:
            when = logic.wire_time(tick.due)
            message = truncate(f"{rejection.reason}: schedule tick {when}: {rejection.message}", MAX_MESSAGE)
            state.stats.last_error, state.stats.dirty = message, True
            if rejection.status in (409, 429):  # Forbid or maxRunning: the tick waits (within its deadline)
                state.schedule_waiting, state.schedule_retry_at = tick.due, loop_time + RETRY_SECONDS
                return
            await self.warn(entry, rejection.reason, message)  # the template is refused: this tick is given up
        state.stats.last_schedule_time = tick.due
        state.schedule_waiting = None
        await self.api.patch_status(
            "triggers",
            entry.namespace,
            entry.name,
            {"lastScheduleTime": logic.wire_time(tick.due), "nextScheduleTime": wire(state.schedule_next)},
        )


def wire(moment: datetime | None) -> str | None:
    return logic.wire_time(moment) if moment is not None else None


def deadline(state: TriggerState) -> datetime | None:
    """When the Trigger's next tick is due (None: no schedule, or suspended)."""
    return state.schedule_next
