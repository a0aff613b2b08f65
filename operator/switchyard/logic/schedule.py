"""Schedule ticks of a Trigger (pure, takes `now`): the cron read in its time zone (cronsim + zoneinfo), which
tick is due as a Kubernetes CronJob decides it (only the latest missed tick, within startingDeadlineSeconds),
and the deterministic Workflow name of a tick (the same tick never starts two Workflows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from switchyard.logic import naming
from switchyard.models.trigger import ScheduleSpec

# The macros Kubernetes CronJob takes, as the five fields they stand for (cronsim reads fields only).
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleInvalid(ValueError):
    """The cron expression or the time zone cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Schedule:
    """A checked schedule: five cron fields read in `zone`."""

    fields: str
    zone: tzinfo

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment`, in UTC."""
        return next(CronSim(self.fields, moment.astimezone(self.zone))).astimezone(UTC)

    def latest_at(self, moment: datetime) -> datetime:
        """The latest tick at or before `moment` (to the second), in UTC."""
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.fields, start.astimezone(self.zone), reverse=True)).astimezone(UTC)


def compile_schedule(spec: ScheduleSpec) -> Schedule:
    """Check the cron expression and time zone; ScheduleInvalid with a clear message otherwise."""
    text = spec.cron.strip()
    fields = MACROS.get(text.lower(), text)
    if text.startswith("@") and fields == text:
        raise ScheduleInvalid(f"cron {spec.cron!r}: unknown macro (one of {', '.join(MACROS)})")
    if len(fields.split()) != 5:
        raise ScheduleInvalid(
            f"cron {spec.cron!r}: {len(fields.split())} fields, want 5 (minute hour day-of-month month day-of-week)"
        )
    zone: tzinfo = UTC
    if spec.time_zone is not None:
        try:
            zone = ZoneInfo(spec.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ScheduleInvalid(f"timeZone {spec.time_zone!r} is not a known IANA time zone") from error
    try:
        schedule = Schedule(fields, zone)
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, StopIteration) as error:
        raise ScheduleInvalid(f"cron {spec.cron!r}: {error or 'never fires'}") from error
    return schedule


@dataclass(frozen=True)
class TickPlan:
    """What to do now: start the Workflow of `due` (None: nothing due), having given up on `missed` (a tick
    past its starting deadline, for a Warning); wake again at `next_tick`."""

    due: datetime | None
    missed: datetime | None
    next_tick: datetime | None


def plan(schedule: Schedule, spec: ScheduleSpec, last: datetime | None, created: datetime, now: datetime) -> TickPlan:
    """The CronJob rule: of the ticks after the last one started (or after the Trigger's creation), only the
    latest that is not in the future is due, and only if it is at most startingDeadlineSeconds late. Every
    earlier missed tick is skipped: after downtime at most one catch-up run."""
    if spec.suspend:
        return TickPlan(None, None, None)
    since = last if last is not None and last >= created else created
    next_tick = schedule.next_after(now)
    latest = schedule.latest_at(now)
    if latest <= since:
        return TickPlan(None, None, next_tick)
    deadline = spec.starting_deadline_seconds
    if deadline is not None and (now - latest).total_seconds() > deadline:
        return TickPlan(None, latest, next_tick)
    return TickPlan(latest, None, next_tick)


def tick_name(trigger: str, tick: datetime) -> str:
    """The Workflow of one tick: `<trigger>-s<UTC yyyymmddhhmm>`, the same in every operator process."""
    return naming.fit(trigger, "-s" + tick.astimezone(UTC).strftime("%Y%m%d%H%M"), naming.MAX_LABEL)


def tick_input(trigger: str, tick: datetime) -> dict[str, str]:
    """The data a tick's Workflow gets as its input."""
    return {"trigger": trigger, "scheduledTime": wire_time(tick)}


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
