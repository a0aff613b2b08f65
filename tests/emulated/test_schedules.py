"""Trigger schedules (issue 23 item 2): one Workflow per tick across a SIGKILL and a leader change, at most one
catch-up run within startingDeadlineSeconds, suspend, and a bad cron or time zone.

Each test runs its own operators on an `sc-…` namespace with `--test-clock-file`: the test writes the time the
Trigger engine reads, so ticks come when the test says, not when the wall clock does.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard.models.labels import ANNOTATION_SCHEDULED
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

TEMPLATE = {"nodes": [{"name": "run", "component": "proc"}]}
DURATION, RENEW = 6, 1.5  # a short Lease so that the leader change takes seconds


class Clock:
    """The time the operators under test read (their --test-clock-file)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        # Schedules count from the Trigger's (real) creationTimestamp. The test's clock starts at the real time
        # `start` (so no tick lies between the creation and it), at least 20 s before the next 5-minute tick
        # `base` (so the Trigger is created before that tick).
        self.start = wait_for(lambda: now if until_tick(now := datetime.now(UTC)) > 20 else None, 30, what="time")
        self.base = self.start + timedelta(seconds=until_tick(self.start))

    def set(self, moment: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(moment.isoformat())
        tmp.replace(self.path)  # atomic: an operator never reads half a time

    def at(self, minutes: float) -> datetime:
        return self.base + timedelta(minutes=minutes)


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    return new_namespace(kubeconfig, "sc")


@pytest.fixture
def clock(tmp_path: pathlib.Path) -> Clock:
    return Clock(tmp_path / "clock")


@pytest.fixture
def start(
    kubeconfig: pathlib.Path, namespace: str, tmp_path: pathlib.Path, clock: Clock
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start_operator(identity: str = "a", leader: bool = False) -> OperatorProcess:
        args: tuple[str, ...] = ("--test-clock-file", str(clock.path))
        if leader:
            args += ("--leader-election", "--lease-name", "switchyard-sched", "--lease-namespace", namespace)
            args += ("--lease-identity", identity, "--lease-duration", str(DURATION), "--lease-renew", str(RENEW))
        proc = OperatorProcess(kubeconfig, tmp_path / f"{identity}.log", namespaces=(namespace,), extra_args=args)
        started.append(proc.start())
        return proc

    yield start_operator
    for proc in started:
        proc.stop()


def tick_workflows(kube: Kube, trigger: str) -> dict[str, str]:
    """Workflow name -> the tick it was started for."""
    listing = kube.custom.list_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflows", label_selector=f"switchyard.dev/trigger={trigger}"
    )
    return {
        item["metadata"]["name"]: item["metadata"]["annotations"][ANNOTATION_SCHEDULED] for item in listing["items"]
    }


def until_tick(moment: datetime) -> float:
    """Seconds from `moment` to the next 5-minute boundary."""
    return 300 - (moment.minute % 5 * 60 + moment.second + moment.microsecond / 1e6)


def wire(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def wait_ticks(kube: Kube, trigger: str, ticks: list[datetime], timeout: float = 30) -> dict[str, str]:
    wanted = sorted(wire(t) for t in ticks)
    try:
        return wait_for(
            lambda: sorted((found := tick_workflows(kube, trigger)).values()) == wanted and found,
            timeout,
            what=f"exactly the tick Workflows {wanted}",
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}; found {tick_workflows(kube, trigger)}") from error


def wait_status(kube: Kube, trigger: str, **fields: Any) -> dict[str, Any]:
    return wait_for(
        lambda: all((s := kube.status("Trigger", trigger)).get(k) == v for k, v in fields.items()) and s,
        30,
        what=f"trigger {trigger} status {fields}",
    )


def scheduled_trigger(kube: Kube, name: str, **schedule: Any) -> None:
    kube.create("Trigger", name, {"workflowTemplate": TEMPLATE, "schedule": {"cron": "*/5 * * * *", **schedule}})


def test_one_workflow_per_tick_across_a_sigkill_and_one_catch_up_within_the_deadline(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess]
) -> None:
    clock.set(clock.start)
    operator = start()
    scheduled_trigger(kube, "nightly", startingDeadlineSeconds=120)
    wait_status(kube, "nightly", nextScheduleTime=wire(clock.at(0)))
    assert tick_workflows(kube, "nightly") == {}

    clock.set(clock.at(0) + timedelta(seconds=10))
    found = wait_ticks(kube, "nightly", [clock.at(0)])
    assert list(found) == [f"nightly-s{clock.at(0):%Y%m%d%H%M}"]  # the tick's own name
    wait_status(kube, "nightly", lastScheduleTime=wire(clock.at(0)), nextScheduleTime=wire(clock.at(5)))
    workflow = kube.get("Workflow", next(iter(found)))
    assert workflow["metadata"]["ownerReferences"][0]["kind"] == "Trigger"
    assert wire(clock.at(0)) in workflow["spec"]["input"]["data"]

    # SIGKILL right after a tick: the restarted operator, at the same time, does not start it again
    clock.set(clock.at(5) + timedelta(seconds=5))
    wait_ticks(kube, "nightly", [clock.at(0), clock.at(5)])
    operator.kill()
    operator.start().wait_ready(timeout=60)
    clock.set(clock.at(5) + timedelta(seconds=40))
    wait_status(kube, "nightly", nextScheduleTime=wire(clock.at(10)))

    # down across three ticks: only the latest one (40 s late, within the 120 s deadline) is started
    operator.kill()
    clock.set(clock.at(20) + timedelta(seconds=40))
    operator.start().wait_ready(timeout=60)
    wait_ticks(kube, "nightly", [clock.at(0), clock.at(5), clock.at(20)])
    wait_status(kube, "nightly", lastScheduleTime=wire(clock.at(20)), nextScheduleTime=wire(clock.at(25)))

    # down past the deadline: the missed tick is a Warning, not a Workflow
    operator.kill()
    clock.set(clock.at(30) + timedelta(seconds=200))
    operator.start().wait_ready(timeout=60)
    kube.wait_event("nightly", "MissedSchedule", timeout=30)
    wait_status(kube, "nightly", nextScheduleTime=wire(clock.at(35)))
    assert sorted(tick_workflows(kube, "nightly").values()) == [wire(clock.at(m)) for m in (0, 5, 20)]
    assert kube.status("Trigger", "nightly")["lastScheduleTime"] == wire(clock.at(20))
    assert operator.alive


def test_suspend_starts_nothing_and_resuming_runs_the_latest_tick_within_the_deadline(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess]
) -> None:
    clock.set(clock.start)
    start()
    scheduled_trigger(kube, "paused", suspend=True, startingDeadlineSeconds=300)
    wait_for(lambda: kube.status("Trigger", "paused").get("conditions"), 30, what="trigger reconciled")
    clock.set(clock.at(10) + timedelta(seconds=30))
    wait_status(kube, "paused", lastScheduleTime=None, nextScheduleTime=None)
    trigger = kube.get("Trigger", "paused")
    assert tick_workflows(kube, "paused") == {}

    trigger["spec"]["schedule"]["suspend"] = False
    kube.custom.replace_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "triggers", "paused", trigger
    )
    wait_ticks(kube, "paused", [clock.at(10)])  # ticks 0 and 5 were missed while suspended; 10 is the latest
    wait_status(kube, "paused", lastScheduleTime=wire(clock.at(10)), nextScheduleTime=wire(clock.at(15)))


def test_a_leader_change_neither_doubles_nor_loses_a_tick(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess], namespace: str
) -> None:
    clock.set(clock.start)
    first = start("first", leader=True)
    first.wait_ready(timeout=60)
    second = start("second", leader=True)  # a standby: the Lease is the first one's
    scheduled_trigger(kube, "hourly", startingDeadlineSeconds=600)
    wait_status(kube, "hourly", nextScheduleTime=wire(clock.at(0)))
    clock.set(clock.at(0) + timedelta(seconds=1))
    wait_ticks(kube, "hourly", [clock.at(0)])

    # the leader dies just after the tick at 5; the standby takes over at the same time, then at 10
    clock.set(clock.at(5) + timedelta(seconds=1))
    wait_ticks(kube, "hourly", [clock.at(0), clock.at(5)])
    first.kill()
    second.wait_ready(timeout=60)  # it serves once it holds the Lease
    wait_status(kube, "hourly", lastScheduleTime=wire(clock.at(5)), nextScheduleTime=wire(clock.at(10)))
    clock.set(clock.at(10) + timedelta(seconds=1))
    wait_ticks(kube, "hourly", [clock.at(0), clock.at(5), clock.at(10)])

    # a tick that came while nobody led (the new leader late by two minutes, within the deadline) is not lost
    second.kill()
    clock.set(clock.at(15) + timedelta(seconds=120))
    third = start("third", leader=True)
    third.wait_ready(timeout=60)
    found = wait_ticks(kube, "hourly", [clock.at(m) for m in (0, 5, 10, 15)])
    assert len(found) == 4


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "every day"}, "invalid schedule: cron 'every day': 2 fields, want 5"),
        ({"cron": "0 3 * * *", "timeZone": "Mars/Olympus"}, "timeZone 'Mars/Olympus' is not a known IANA time zone"),
    ],
)
def test_a_bad_cron_or_time_zone_is_invalid_with_a_message_and_an_event(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess], schedule: dict[str, Any], message: str
) -> None:
    start()
    kube.create("Trigger", "bad", {"workflowTemplate": TEMPLATE, "schedule": schedule})
    ready = wait_for(
        lambda: next((c for c in kube.status("Trigger", "bad").get("conditions") or [] if c["type"] == "Ready"), None),
        60,
        what="Ready condition",
    )
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
    assert message in ready["message"]
    assert message in kube.wait_event("bad", "InvalidSchedule", timeout=30).message


def test_forbid_holds_a_tick_while_the_previous_run_runs_then_starts_it_within_the_deadline(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess]
) -> None:
    clock.set(clock.start)
    start()
    kube.component("proc")  # no job simulator in this namespace: its Jobs never finish, so neither do the Workflows
    kube.create(
        "Trigger",
        "serial",
        {
            "workflowTemplate": TEMPLATE,
            "concurrencyPolicy": "Forbid",
            "schedule": {"cron": "*/5 * * * *", "startingDeadlineSeconds": 600},
        },
    )
    wait_status(kube, "serial", nextScheduleTime=wire(clock.at(0)))
    clock.set(clock.at(0) + timedelta(seconds=1))
    (first,) = wait_ticks(kube, "serial", [clock.at(0)])
    assert kube.status("Workflow", first).get("phase") not in ("Succeeded", "Failed", "Invalid")

    clock.set(clock.at(5) + timedelta(seconds=1))
    waiting = wait_for(
        lambda: "schedule tick" in ((s := kube.status("Trigger", "serial")).get("lastError") or "") and s,
        30,
        what="the tick refused by Forbid",
    )
    assert wire(clock.at(5)) in waiting["lastError"]
    assert waiting["lastScheduleTime"] == wire(clock.at(0))
    assert list(tick_workflows(kube, "serial")) == [first]

    kube.custom.delete_namespaced_custom_object("switchyard.dev", "v1alpha1", kube.namespace, "workflows", first)
    wait_ticks(kube, "serial", [clock.at(5)])  # the held tick starts once nothing runs, still within its deadline
    wait_status(kube, "serial", lastScheduleTime=wire(clock.at(5)))


def test_a_tick_runs_a_workflow_template_with_literal_arguments_and_refuses_one_that_reads_the_event(
    kube: Kube, clock: Clock, start: Callable[..., OperatorProcess]
) -> None:
    clock.set(clock.start)
    start()
    template = {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "report"},
        "spec": {
            "parameters": [{"name": "kind"}, {"name": "level", "default": "low"}],
            "workflow": {"nodes": [{"name": "run", "component": "proc", "config": {"kind": "{{params.kind}}"}}]},
        },
    }
    kube.custom.create_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflowtemplates", template
    )
    every5 = {"cron": "*/5 * * * *", "startingDeadlineSeconds": 120}
    kube.create(
        "Trigger",
        "literal",
        {"workflowTemplateRef": {"name": "report"}, "arguments": {"kind": '"nightly"'}, "schedule": every5},
    )
    kube.create(
        "Trigger",
        "eventy",
        {"workflowTemplateRef": {"name": "report"}, "arguments": {"kind": "event.data.kind"}, "schedule": every5},
    )
    wait_status(kube, "literal", nextScheduleTime=wire(clock.at(0)))
    wait_status(kube, "eventy", nextScheduleTime=wire(clock.at(0)))
    clock.set(clock.at(0) + timedelta(seconds=5))

    (name,) = wait_ticks(kube, "literal", [clock.at(0)])
    spec = kube.get("Workflow", name)["spec"]
    assert spec["workflowTemplateRef"] == {"name": "report"}
    assert spec["arguments"] == {"kind": "nightly"}  # `level` left out: the template's default applies
    assert wire(clock.at(0)) in spec["input"]["data"]

    refused = wait_for(
        lambda: "ArgumentError" in ((s := kube.status("Trigger", "eventy")).get("lastError") or "") and s,
        30,
        what="the tick refused for its argument",
    )
    assert refused["lastScheduleTime"] == wire(clock.at(0))  # given up, not retried
    assert "arguments.kind could not be evaluated for a schedule tick (a tick has no event)" in refused["lastError"]
    assert "arguments.kind" in kube.wait_event("eventy", "ArgumentError", timeout=30).message
    assert tick_workflows(kube, "eventy") == {}
