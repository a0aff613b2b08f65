"""Why a Job has no Pod: a watch on the job controller's `FailedCreate` Warning Events about Jobs.

A Job admitted whose Pods admission refuses (a ResourceQuota, Pod Security, a LimitRange, a missing
ServiceAccount) shows it only in Events on the Job, repeated (the recorder bumps `count`) while the job
controller retries with its backoff. This list + watch (`informer.ListWatch`, field selector
`involvedObject.kind=Job,reason=FailedCreate`, so other Events never reach the operator) keeps the latest
message per Job of a Switchyard Workflow and wakes that Workflow's runner, which classifies it
(`logic.podrefusals`) and reports it on the node within seconds instead of at its pending timeout.

An Event about a Job the Job store does not know (yet) is dropped: Events of other Jobs are not kept, and the
job controller repeats the Event until the Pod is created, so a Job seen a moment later gets the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from switchyard.k8s.informer import ListWatch, Store, exact_names, serves
from switchyard.logic.podrefusals import FAILED_CREATE

FIELD_SELECTOR = f"involvedObject.kind=Job,reason={FAILED_CREATE}"


@dataclass(frozen=True, slots=True)
class FailedCreate:
    """The latest FailedCreate Event of one Job."""

    namespace: str
    job: str
    job_uid: str
    message: str
    event: str  # the Event's name (its DELETED event forgets it)


def failed_create(body: dict[str, Any]) -> FailedCreate | None:
    involved = body.get("involvedObject") or {}
    if involved.get("kind") != "Job" or body.get("reason") != FAILED_CREATE:
        return None
    meta = body.get("metadata") or {}
    namespace = involved.get("namespace") or meta.get("namespace") or ""
    return FailedCreate(
        namespace,
        str(involved.get("name") or ""),
        str(involved.get("uid") or ""),
        str(body.get("message") or ""),
        str(meta.get("name") or ""),
    )


class Refusals:
    """(namespace, Job) -> its latest FailedCreate, for the Jobs the Job store holds."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], FailedCreate] = {}

    def get(self, namespace: str, job: str) -> FailedCreate | None:
        return self.items.get((namespace, job))

    def forget(self, namespace: str, job: str) -> None:
        self.items.pop((namespace, job), None)

    def __len__(self) -> int:
        return len(self.items)


class FailedCreateWatch(ListWatch):
    """List + watch of core/v1 Events `FailedCreate` on Jobs into `Refusals` (see the module doc)."""

    optional = True  # without RBAC for events the operator still runs, reporting at the pending timeout

    def __init__(
        self,
        api_client: client.ApiClient,
        namespaces: list[str],
        jobs: Store,
        on_change: Callable[[str, str, str], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        api = client.CoreV1Api(api_client)
        exact = exact_names(namespaces)
        super().__init__(
            "events",
            api.list_event_for_all_namespaces,
            api.list_namespaced_event,
            list(namespaces) if exact else [None],
            loop,
        )
        self.patterns = [] if exact else list(namespaces)
        self.jobs = jobs
        self.on_change = on_change
        self.refusals = Refusals()

    def _selector(self) -> dict[str, str]:
        return {"field_selector": FIELD_SELECTOR}

    def digest(self, body: dict[str, Any]) -> FailedCreate | None:
        found = failed_create(body)
        if found is None or (self.patterns and not serves(found.namespace, self.patterns)):
            return None
        return found

    # -- on the event loop -------------------------------------------------------------------------

    def changed(self, deleted: bool, digest: FailedCreate) -> None:
        key = (digest.namespace, digest.job)
        if deleted:
            if (held := self.refusals.items.get(key)) is not None and held.event == digest.event:
                del self.refusals.items[key]
            return
        entry = next(iter(self.jobs[key]), None) if key in self.jobs else None
        if entry is None:
            return  # not a Switchyard Job, or not seen yet (see the module doc)
        old = self.refusals.items.get(key)
        self.refusals.items[key] = digest
        if old is None or old.message != digest.message:
            self.on_change(digest.namespace, entry.workflow, digest.job)

    def listed(self, scope: str | None, digests: list[FailedCreate]) -> None:
        for key in [k for k in self.refusals.items if scope is None or k[0] == scope]:
            del self.refusals.items[key]
        for digest in digests:
            self.changed(False, digest)
