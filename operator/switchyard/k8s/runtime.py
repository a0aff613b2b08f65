"""The operator's process-wide runtime: API access, caches of watched objects, wake-ups, breaker books.

Nothing here is the source of truth: everything can be rebuilt from the cluster after a restart
(workflow progress from Workflow status and Jobs, breakers from Component status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from switchyard.config import Options
from switchyard.k8s.client import Api
from switchyard.k8s.entries import ComponentEntry, JobEntry, PodEntry
from switchyard.k8s.informer import Store
from switchyard.k8s.podevents import FailedCreate, Refusals
from switchyard.logic.breaker import BreakerBook
from switchyard.logic.ratelimit import EventRateLimiter
from switchyard.logic.slots import SlotBook
from switchyard.logic.stats import StatsBook
from switchyard.models.labels import ANNOTATION_STOP, ANNOTATION_STOP_EXIT

T = TypeVar("T")
MAX_STARTING = 16


class IndexLike(Protocol):
    """kopf.Index: a mapping of keys to stores (iterables of indexed values)."""

    def __getitem__(self, key: Any) -> Iterable[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __contains__(self, key: object) -> bool: ...


def first(index: IndexLike, key: Any) -> Any:
    if key not in index:
        return None
    for value in index[key]:
        return value
    return None


@dataclass
class Views:
    """Read access to the Component index (kopf's) and the Job and Pod stores (`k8s/informer.py`); runners
    start only once all are filled."""

    components: IndexLike
    jobs: Store
    pods: Store
    refusals: Refusals = field(default_factory=Refusals)  # FailedCreate Events of Jobs (k8s/podevents.py)

    def component(self, namespace: str, name: str) -> ComponentEntry | None:
        entry: ComponentEntry | None = first(self.components, (namespace, name))
        return entry

    def job(self, namespace: str, name: str) -> JobEntry | None:
        entry: JobEntry | None = first(self.jobs, (namespace, name))
        return entry

    def pods_of(self, namespace: str, job: str) -> list[PodEntry]:
        if (namespace, job) not in self.pods:
            return []
        return list(self.pods[(namespace, job)])

    def forget_finished(self, namespace: str, workflow: str, uid: str) -> int:
        """Drop a finished Workflow's Jobs and their Pods from the stores (nothing reads them again; a
        namesake's stay: a Job is dropped only when its owner is `uid`). The number of Jobs dropped.

        A later watch event about one of them adds it back (once, until it is deleted); that is harmless."""
        dropped = 0
        for key in self.jobs.keys_of(namespace, workflow):
            if all(entry.owner_uid == uid for entry in self.jobs[key]):
                self.jobs.drop_key(key)
                self.pods.drop_key(key)
                self.refusals.forget(*key)
                dropped += 1
        return dropped

    def refusal(self, namespace: str, job: str) -> FailedCreate | None:
        """The job controller's latest FailedCreate Event of the Job (why it has no Pod), if any."""
        return self.refusals.get(namespace, job)

    def pod_message(self, namespace: str, job: str) -> PodEntry | None:
        """The Pod whose main container's end is the Job's result: one that succeeded, else one that failed
        on its own, else a disrupted one (a Job replaces a Pod its podFailurePolicy ignores: both are listed)."""
        if (namespace, job) not in self.pods:
            return None
        return best_pod(self.pods[(namespace, job)])


def best_pod(pods: Iterable[PodEntry]) -> PodEntry | None:
    """See `Views.pod_message`."""
    best: PodEntry | None = None
    for pod in pods:
        if pod.message is not None and (best is None or _rank(pod) > _rank(best)):
            best = pod
    return best


def _rank(pod: PodEntry) -> int:
    if pod.phase == "Succeeded":
        return 3
    if not pod.disrupted:
        return 2 if pod.phase == "Failed" else 1
    return 0


@dataclass
class Runtime:
    api: Api
    options: Options = field(default_factory=Options)  # the operator's command line
    # workflow -> the event its runner waits on (set: it has news); not the Trigger kind (`k8s.triggers`)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    books: dict[str, BreakerBook] = field(default_factory=dict)
    slot_books: dict[str, SlotBook] = field(default_factory=dict)  # namespace -> component slots (`k8s.slots`)
    stats_books: dict[str, StatsBook] = field(default_factory=dict)  # namespace -> statistics (`k8s.stats`)
    rule_matches: dict[tuple[str, str], int] = field(default_factory=dict)
    breaker_flush: asyncio.Event = field(default_factory=asyncio.Event)

    changed: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # workflow -> Jobs with news
    # workflow -> what its runner reads from its metadata (see `workflow_event`), as of the last watch event
    workflow_meta: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    synced: list[asyncio.Event] = field(default_factory=list)  # set once the Job and Pod stores are listed
    # Workflows preparing to run (spec, Components, input, route, ConfigMaps, first status) at once: a burst
    # of 1,000 new Workflows would otherwise hold 1,000 listings and routings in memory together.
    starting: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_STARTING))
    # (namespace, rule) -> at most one RuleSkipped Event a minute: a rule failing on every input is one problem
    rule_skip_events: EventRateLimiter = field(default_factory=EventRateLimiter)

    async def wait_synced(self) -> None:
        for event in self.synced:
            await event.wait()

    def wakeup(self, namespace: str, name: str) -> asyncio.Event:
        """The event the workflow's runner waits on: set by `wake` and `job_changed`."""
        return self.wakeups.setdefault((namespace, name), asyncio.Event())

    def wake(self, namespace: str, name: str) -> None:
        if (event := self.wakeups.get((namespace, name))) is not None:
            event.set()

    def workflow_event(self, namespace: str, name: str, meta: Mapping[str, Any]) -> None:
        """A Workflow watch event: wake its runner when something the runner reads outside the status changed
        (the generation: a spec edit to warn about; the stop annotations, the second stop's included; a
        deletion). Most events are the runner's own status writes coming back: a pass for those would find
        nothing new."""
        key = (namespace, name)
        annotations = meta.get("annotations") or {}
        seen = (
            meta.get("generation"),
            annotations.get(ANNOTATION_STOP),
            annotations.get(ANNOTATION_STOP_EXIT),
            meta.get("deletionTimestamp"),
        )
        if self.workflow_meta.get(key) != seen:
            self.workflow_meta[key] = seen
            self.wake(namespace, name)

    def workflow_deleted(self, namespace: str, name: str) -> None:
        self.workflow_meta.pop((namespace, name), None)

    def job_changed(self, namespace: str, workflow: str, job: str) -> None:
        """A watch event about one of a workflow's Jobs (or their Pods): note the Job and wake the runner,
        which then looks at the Jobs with news instead of all of its running ones."""
        key = (namespace, workflow)
        if (event := self.wakeups.get(key)) is not None:
            self.changed.setdefault(key, set()).add(job)
            event.set()
        # a Job holding a slot of a limited component (`k8s.slots`): the Workflows waiting for it look again,
        # also when its own Workflow's runner is gone (stopped, deleted)
        if (book := self.slot_books.get(namespace)) is not None and (component := book.holding(job)) is not None:
            for waiting in book.waiting_workflows(component):
                self.wake(namespace, waiting)

    def take_changed(self, namespace: str, workflow: str) -> set[str]:
        """The Jobs noted since the last call (then forgotten)."""
        return self.changed.pop((namespace, workflow), set())

    def forget(self, namespace: str, workflow: str, wakeup: asyncio.Event) -> None:
        """The workflow's runner (the one waiting on `wakeup`) is gone. A runner of a namesake created since
        may already have its own wake-up: that one stays."""
        key = (namespace, workflow)
        if self.wakeups.get(key) is wakeup:
            del self.wakeups[key]
            self.changed.pop(key, None)
