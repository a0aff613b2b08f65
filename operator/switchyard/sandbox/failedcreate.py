"""The job controller's `FailedCreate` Warning Events, for the job simulator: a Job whose Pod admission refuses.

A real job controller that cannot create a Pod (a ResourceQuota used up, Pod Security, a LimitRange, a
missing ServiceAccount) records `Error creating: <the API server's error>` on the Job (reason
`FailedCreate`, source `job-controller`) and tries again later with exponential backoff (client-go's rate
limiter: 1 s doubling up to a minute in 1.27+; the simulator's default is shorter, for tests). The Event
recorder's correlator turns repeats into a patch of `count`, `lastTimestamp` (and, for similar messages,
the message) on one Event. Each try has a new generated Pod name, so its message differs in that name; the
simulator keys repeats by the message without the Pod's name (a real correlator makes separate Events for
the first ten and then one "(combined from similar events): ..." Event). No Pod is created until the
refusal goes away.
"""

from __future__ import annotations

import datetime
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

REASON = "FailedCreate"
SOURCE = "job-controller"
# Messages as Kubernetes words them ({pod} stands for the Pod's name): for `Outcome(refuse=...)`.
QUOTA_PODS = (
    'pods "{pod}" is forbidden: exceeded quota: {quota}, requested: pods=1, used: pods={used}, limited: pods={used}'
)
POD_SECURITY = (
    'pods "{pod}" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
    '(container "main" must set securityContext.allowPrivilegeEscalation=false)'
)
SERVICE_ACCOUNT = (
    'pods "{pod}" is forbidden: error looking up service account {namespace}/{account}: '
    'serviceaccount "{account}" not found'
)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(job: dict[str, Any], message: str, count: int = 1) -> dict[str, Any]:
    """A core/v1 Event as the job controller's recorder writes it about `job`."""
    meta = job["metadata"]
    now = _now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "resourceVersion": str(meta.get("resourceVersion") or ""),
        },
        "reason": REASON,
        "message": f"Error creating: {message}",
        "type": "Warning",
        "source": {"component": SOURCE},
        "reportingComponent": SOURCE,
        "reportingInstance": "",
        "count": count,
        "firstTimestamp": now,
        "lastTimestamp": now,
    }


class Refuser:
    """The job controller's side of a refused Pod: record the Event, try again after a backoff.

    `start(job)` is the simulator's Pod creation, which asks the rule again: once the rule no longer refuses
    (the test freed the quota), the Pod is created. A deleted Job (`forget`) is not tried again."""

    def __init__(
        self,
        recorder: Recorder,
        schedule: Callable[[float, Callable[[], None]], None],
        start: Callable[[dict[str, Any]], None],
        backoff: tuple[float, float],
    ) -> None:
        self.recorder, self.schedule, self.start = recorder, schedule, start
        self.initial, self.cap = backoff
        self.tries: dict[str, int] = {}  # Job uid -> refusals so far
        self._lock = threading.Lock()

    def refuse(self, job: dict[str, Any], message: str, similar: str) -> None:
        uid = job["metadata"]["uid"]
        with self._lock:
            tries = self.tries[uid] = self.tries.get(uid, 0) + 1
        self.recorder.record(job, message, similar)
        delay = min(self.initial * 2 ** (tries - 1), self.cap)
        self.schedule(time.monotonic() + delay, lambda: self._again(job))

    def _again(self, job: dict[str, Any]) -> None:
        with self._lock:
            if job["metadata"]["uid"] not in self.tries:
                return  # the Job was deleted meanwhile
        self.start(job)

    def created(self, uid: str) -> None:
        """The Pod was created at last (or never refused)."""
        with self._lock:
            self.tries.pop(uid, None)

    def forget(self, uid: str) -> None:
        self.created(uid)
        self.recorder.forget(uid)


class Recorder:
    """Posts FailedCreate Events, one per (Job uid, message), repeats patched in place (the correlator)."""

    def __init__(self, create: Callable[[str, dict[str, Any]], Any], patch: Callable[[str, str, dict[str, Any]], Any]):
        self.create = create  # (namespace, body)
        self.patch = patch  # (name, namespace, body)
        self.events: dict[tuple[str, str], tuple[str, int]] = {}  # (job uid, message) -> (Event name, count)
        self.posted: list[tuple[str, str]] = []  # (Job name, message) of every FailedCreate, repeats included
        self._lock = threading.Lock()

    def record(self, job: dict[str, Any], message: str, similar: str) -> None:
        """`message` as refused; `similar` the same without what changes on each try (the Pod's name)."""
        meta = job["metadata"]
        key = (meta["uid"], similar)
        with self._lock:
            held = self.events.get(key)
            self.posted.append((meta["name"], message))
        if held is None:
            body = event_body(job, message)
            self.create(meta["namespace"], body)
            with self._lock:
                self.events[key] = (body["metadata"]["name"], 1)
            return
        name, count = held
        change = {"count": count + 1, "lastTimestamp": _now(), "message": f"Error creating: {message}"}
        self.patch(name, meta["namespace"], change)
        with self._lock:
            self.events[key] = (name, count + 1)

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self.events if k[0] == uid]:
                del self.events[key]
