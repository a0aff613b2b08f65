"""Deliver a finished Workflow's CloudEvent to `spec.notify.sink` in the background, recorded in its status.

`start` is called when a Workflow's run is over (also for a finished Workflow an operator picks up after a
restart): it spawns one task per Workflow run, never awaited by the runner, so a slow or broken sink holds
nothing up. The task reads the Workflow once, POSTs the event (`switchyard.notify`) until a 2xx answer, with
backoff, for at most `notify.retrySeconds` after the Workflow finished, and writes `status.notification`
after every attempt. Delivered or Abandoned there means done: a restarted operator sends again only while it
says Pending, with the same event id (at least once; receivers deduplicate by id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s.client import Api
from switchyard.k8s.errors import not_found
from switchyard.k8s.templates import notify_spec
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.workflow import NotificationStatus, NotifySpec, WorkflowStatus
from switchyard.notify import event, sender

Event = Callable[[str, str, str], None]  # (type, reason, message) on the Workflow
log = logging.getLogger("switchyard.notify")
_running: dict[str, asyncio.Task[None]] = {}  # Workflow uid -> its delivery (this process's bookkeeping only)


def start(api: Api, body: Mapping[str, Any], status: WorkflowStatus, emit: Event) -> None:
    """Deliver the finished event of this run unless there is none to send or it was already settled."""
    notify = notify_spec(body, status)
    if notify is None or (status.notification is not None and status.notification.state != "Pending"):
        return
    meta = body["metadata"]
    uid = meta["uid"]
    if uid in _running and not _running[uid].done():
        return
    task = asyncio.create_task(deliver(api, meta["namespace"], meta["name"], uid, notify, emit), name=f"notify-{uid}")
    _running[uid] = task
    task.add_done_callback(lambda done: _finished(uid, done))


def _finished(uid: str, task: asyncio.Task[None]) -> None:
    if _running.get(uid) is task:
        del _running[uid]
    if not task.cancelled() and (problem := task.exception()) is not None:
        log.error("notification of workflow uid %s failed: %s", uid, problem)


async def deliver(api: Api, namespace: str, name: str, uid: str, notify: NotifySpec, emit: Event) -> None:
    try:
        found = await api.read_object(GROUP, VERSION, namespace, "workflows", name)
    except ApiException as exc:
        if not_found(exc):
            return
        raise
    meta = found.get("metadata") or {}
    if meta.get("uid") != uid:
        return  # a namesake: this run is gone
    status = WorkflowStatus.model_validate(found.get("status") or {})
    record = status.notification or NotificationStatus(id=event.event_id(uid))
    if record.state != "Pending":
        return
    message = event.finished_event(meta, status)
    deadline = (status.finished_at or datetime.now(UTC)) + timedelta(seconds=notify.retry_seconds)
    overdue = f"not delivered within {notify.retry_seconds} s"
    if record.attempts and datetime.now(UTC) >= deadline:  # a restart after the bound: no more tries
        await abandon(api, namespace, name, record, emit, overdue)
        return
    while True:
        answer = await sender.post(notify.sink.uri, message)
        record.attempts += 1
        if answer.ok:
            record.state, record.last_error = "Delivered", None
            record.delivered_at = datetime.now(UTC).replace(microsecond=0)
            await write(api, namespace, name, record)
            metrics.NOTIFICATIONS.labels(namespace, "delivered").inc()
            emit("Normal", "Notified", f"event {event.EVENT_TYPE} delivered (attempt {record.attempts})")
            return
        record.last_error = answer.error
        metrics.NOTIFY_FAILURES.labels(namespace).inc()
        if answer.final or not event.retryable(answer.status):
            await abandon(api, namespace, name, record, emit, f"{answer.error}, which is not retried")
            return
        if record.attempts == 1:
            emit("Warning", "NotifyFailed", f"event {event.EVENT_TYPE} not delivered: {answer.error}; retrying")
        left = (deadline - datetime.now(UTC)).total_seconds()
        if left <= 0:
            await abandon(api, namespace, name, record, emit, overdue)
            return
        delay = min(event.retry_delay(record.attempts), left)  # the last try is at the bound, not skipped
        await write(api, namespace, name, record)
        await asyncio.sleep(delay)


async def abandon(api: Api, namespace: str, name: str, record: NotificationStatus, emit: Event, why: str) -> None:
    record.state = "Abandoned"
    await write(api, namespace, name, record)
    metrics.NOTIFICATIONS.labels(namespace, "abandoned").inc()
    emit(
        "Warning",
        "NotifyAbandoned",
        f"event {event.EVENT_TYPE} given up after {record.attempts} attempt(s): {why} (last: {record.last_error})",
    )


async def write(api: Api, namespace: str, name: str, record: NotificationStatus) -> None:
    """Record the delivery; a Workflow deleted meanwhile (ttlSecondsAfterFinished) has nothing to record."""
    await api.patch_status("workflows", namespace, name, {"notification": record.to_wire()})
