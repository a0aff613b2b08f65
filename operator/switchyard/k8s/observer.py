"""What the cluster says about a Workflow's running nodes: Job results for the engine, never a guess.

Reads the informer's stores (Jobs, Pods) and confirms with the API where a store can be wrong: a Job it does not
show (a fresh create, or a deletion), an Active Job that has been quiet for long (a watch gap can keep a
deleted Job forever), a finished Job whose Pod it does not show. Each running node gets at most one
`JobResult`; a node without one simply has nothing new.

A pass looks at the Jobs with news only (the informer notes them, `Runtime.job_changed`), so its cost
follows what changed, not how many nodes run. All running Jobs are looked at on the first pass, when one of
the observer's own timers is due (a grace, a pending timeout), and at least every `FULL_EVERY` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s.artifactrun import RunArtifacts, staging_failure
from switchyard.k8s.client import Api
from switchyard.k8s.entries import JobEntry, PodEntry, job_entry, pod_entry
from switchyard.k8s.errors import not_found
from switchyard.k8s.runtime import Views, best_pod
from switchyard.logic.podrefusals import QUOTA_EXCEEDED, PodRefusal, classify
from switchyard.logic.podresult import truncation
from switchyard.logic.scheduler import JobResult, WorkflowRun
from switchyard.models.component import ComponentSpec

MISSING_GRACE = 5.0  # seconds a Job may be absent from the index and the API before it counts as lost
# An Active Job with no watch event this long is confirmed with a GET. The informer already lists again
# after every watch gap (dropping what was deleted meanwhile) and after READ_TIMEOUT of silence, so this is
# the last resort for a store gone stale unseen; on a busy cluster Jobs wait minutes for a node quietly.
CONFIRM_AFTER = 600.0
OUTPUT_GRACE = timedelta(seconds=30)  # a succeeded Job's Pod status may trail the Job's by this much
DEFAULT_PENDING_TIMEOUT = 600
TIMEOUT_POLL = 5  # seconds between looks at a Pending Job whose timeoutSeconds starts when its container does
FULL_EVERY = 30.0  # seconds between passes that look at every running Job, news or not


@dataclass
class Observation:
    results: dict[str, JobResult] = field(default_factory=dict)
    delete_jobs: list[str] = field(default_factory=list)  # our Jobs whose Pods can never start: remove them
    wake_at: datetime | None = None

    def wake(self, when: datetime) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when


class JobObserver:
    """Turns the running nodes of one Workflow run into Job results."""

    def __init__(self, api: Api, views: Views, namespace: str, uid: str) -> None:
        self.api = api
        self.views = views
        self.namespace = namespace
        self.uid = uid
        self.missing_since: dict[str, float] = {}  # Job -> when it was first seen missing (monotonic)
        self.quiet_since: dict[str, tuple[str | None, float]] = {}  # Job -> (resourceVersion, since when unchanged)
        self.created_at: dict[str, float] = {}  # Job -> when this process created (or adopted) it (monotonic)
        self.nodes: dict[str, str] = {}  # Job -> its node, for the Jobs with news
        self.due: datetime | None = None  # the earliest of this observer's own timers
        self.last_full: float | None = None  # when every running Job was last looked at (monotonic)
        self.artifacts: RunArtifacts | None = None  # the run's store, when it passes artifacts
        self.held_up: set[str] = set()  # Jobs whose node was told why they have no Pod (cleared once they do)

    def created(self, jobs: Mapping[str, str], timeouts: Mapping[str, int] | None = None) -> None:
        """Jobs (-> their nodes) the API just accepted, or that existed already: until their watch event
        reaches the index, or `MISSING_GRACE` passes, they are taken as Active without a GET each pass.

        `timeouts`: Job -> its `timeoutSeconds`; every Job is looked at again when its timeout could first be
        due (a container starting is no news of its own), then when it is (`_timed_out`)."""
        now = time.monotonic()
        for job, node in jobs.items():
            self.created_at[job] = now
            self.nodes[job] = node
        for seconds in (timeouts or {}).values():
            due = datetime.now(UTC) + timedelta(seconds=seconds)
            if self.due is None or due < self.due:
                self.due = due

    async def observe(
        self,
        run: WorkflowRun,
        components: Mapping[str, ComponentSpec],
        now: datetime,
        changed: Iterable[str] | None = None,
    ) -> Observation:
        """Results of the running Jobs in `changed` (None: of all running Jobs; see the module's doc)."""
        full = (
            changed is None
            or self.last_full is None
            or (self.due is not None and now >= self.due)
            or time.monotonic() - self.last_full >= FULL_EVERY
        )
        targets = run.running_jobs() if full else self._targets(run, changed or ())
        seen = Observation()
        for node, (attempt, job) in targets.items():
            result = await self._one(node, attempt, job, components.get(run.component_of(node)), now, seen)
            if result is not None:
                seen.results[node] = result
        if full:
            self.last_full = time.monotonic()
            self.due = None
            self.nodes = {job: node for node, (_, job) in run.running_jobs().items()}
            for book in (self.missing_since, self.quiet_since, self.created_at):
                for job in [j for j in book if j not in self.nodes]:
                    del book[job]
            self.held_up &= set(self.nodes)
        if seen.wake_at is not None and (self.due is None or seen.wake_at < self.due):
            self.due = seen.wake_at
        seen.wake_at = self.due
        return seen

    def _targets(self, run: WorkflowRun, jobs: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Node -> (attempt, Job) for the Jobs given that are the current Job of a running node."""
        targets: dict[str, tuple[int, str]] = {}
        for job in jobs:
            node = self.nodes.get(job)
            if node is None or node not in run.running:
                continue
            attempt = run.nodes[node].attempts
            if (run.nodes[node].job or run.job_name(node, attempt)) == job:
                targets[node] = (attempt, job)
        return targets

    async def _one(
        self,
        node: str,
        attempt: int,
        job: str,
        component: ComponentSpec | None,
        now: datetime,
        seen: Observation,
    ) -> JobResult | None:
        entry = self.views.job(self.namespace, job)
        if entry is None and (fresh := self._fresh(job)) is not None:
            seen.wake(now + timedelta(seconds=fresh))  # look again then (its finishing wakes us sooner)
            return None
        if entry is None or (entry.state == "Active" and self._quiet_too_long(entry)):
            metrics.JOB_READS.labels("unseen" if entry is None else "quiet").inc()
            exists, fetched = await self._fetch(job)
            if not exists:
                return self._missing(node, attempt, job, now, seen)
            self.missing_since.pop(job, None)
            self.quiet_since.pop(job, None)
            if fetched is None:
                return self._foreign(node, attempt, job, now, "it is not a Switchyard Job")
            entry = fetched
        self.missing_since.pop(job, None)
        if entry.owner_uid != self.uid or entry.node != node or entry.attempt != attempt:
            return self._foreign(node, attempt, job, now, f"it belongs to {self._describe(entry)}")
        if entry.state == "Active":
            return await self._active(node, attempt, entry, component, now, seen)
        return await self._finished(node, attempt, entry, now, seen)

    # -- the Job is there and ours ------------------------------------------------------------------

    async def _active(
        self,
        node: str,
        attempt: int,
        entry: JobEntry,
        component: ComponentSpec | None,
        now: datetime,
        seen: Observation,
    ) -> JobResult | None:
        pods = self.views.pods_of(self.namespace, entry.name)
        stuck = next((pod for pod in pods if pod.stuck), None)
        if stuck is not None:  # the Pod can never start on its own: fail this attempt, remove the Job
            seen.delete_jobs.append(entry.name)
            message = f"{stuck.waiting}: {stuck.waiting_message}".rstrip(": ")
            return JobResult(node, attempt, "Failed", entry.name, now, stuck.waiting, message)
        refusal = None if pods else self._refusal(entry.name)
        if refusal is not None and not refusal.transient:  # a policy refuses every Pod of it: fail, no retry
            seen.delete_jobs.append(entry.name)
            message = refusal.describe()
            return JobResult(node, attempt, "Failed", entry.name, now, refusal.reason, message, False, permanent=True)
        came = bool(pods) and entry.name in self.held_up  # its Pod came (the quota freed up)
        if came:
            self.held_up.discard(entry.name)
        # The main container ended; another (an injected sidecar) keeps the Pod running, and the Job active: the
        # result is main's, the Job goes. Not while stage-out (a native sidecar) still uploads main's outputs.
        held = next(
            (
                pod
                for pod in pods
                if pod.containers > 1
                and pod.phase == "Running"
                and pod.exit_code is not None
                and not pod.staging_active
            ),
            None,
        )
        if held is not None:
            seen.delete_jobs.append(entry.name)
            result = self._main_ended(node, attempt, entry, held, now)
            if self.artifacts is not None and result.state == "Succeeded":
                return await self.artifacts.collect(result, held)
            return result
        if component is not None and component.timeout_seconds is not None:
            timed_out = self._timed_out(node, attempt, entry, pods, component.timeout_seconds, now, seen)
            if timed_out is not None:
                return timed_out
        disrupted = [pod for pod in pods if pod.disrupted]
        if disrupted:  # the Job's podFailurePolicy ignores it and replaces the Pod: say so on the node
            message = f"{len(disrupted)} Pod(s) disrupted, replaced by the Job: {disrupted[-1].disrupted}"
            return JobResult(node, attempt, "Active", entry.name, None, "Disrupted", message, blame=False)
        if came:  # clear the node's reason
            return JobResult(node, attempt, "Waiting", entry.name, now, blame=False)
        if any(pod.started for pod in pods) or entry.created_at is None:
            return None
        limit = component.pending_timeout_seconds if component is not None else DEFAULT_PENDING_TIMEOUT
        due = entry.created_at + timedelta(seconds=limit)
        # A quota wait is not bounded by the pending timeout: the job controller creates the Pod once the quota
        # frees, and deleting the Job to make it again would only queue it behind the same quota (the
        # Workflow's activeDeadlineSeconds still bounds it)
        if now < due or (refusal is not None and refusal.reason == QUOTA_EXCEEDED):
            if now < due:
                seen.wake(due)
            if refusal is None:
                return None
            self.held_up.add(entry.name)  # the node waits, saying why (the job controller keeps trying)
            return JobResult(node, attempt, "Waiting", entry.name, now, refusal.reason, refusal.describe(), False)
        seen.delete_jobs.append(entry.name)
        if refusal is not None:  # still no Pod at the pending timeout: the cluster's doing, never the Component's
            message = f"no Pod within {limit}s (pendingTimeoutSeconds): {refusal.describe()}"
            return JobResult(node, attempt, "Failed", entry.name, now, refusal.reason, message, blame=False)
        reason, detail = _why_not_started(pods)
        message = f"the Pod did not start within {limit}s (pendingTimeoutSeconds): {detail}"
        return JobResult(node, attempt, "Failed", entry.name, now, reason, message)

    def _timed_out(
        self,
        node: str,
        attempt: int,
        entry: JobEntry,
        pods: list[PodEntry],
        limit: int,
        now: datetime,
        seen: Observation,
    ) -> JobResult | None:
        """`timeoutSeconds` counted from when the main container started (not the Job's start, which includes
        scheduling and image pulls): past it, the attempt fails and its Job is removed."""
        running = [pod.running_since for pod in pods if pod.running_since is not None and pod.exit_code is None]
        if not running:  # not started yet: look again when it could first be due (a few seconds apart at least)
            seen.wake(now + timedelta(seconds=max(limit, TIMEOUT_POLL)))
            return None
        due = max(running) + timedelta(seconds=limit)
        if now < due:
            seen.wake(due)
            return None
        seen.delete_jobs.append(entry.name)
        message = f"the container ran longer than timeoutSeconds ({limit}s)"
        ran = (now - max(running)).total_seconds()
        return JobResult(node, attempt, "Failed", entry.name, now, "DeadlineExceeded", message, ran_seconds=ran)

    def _main_ended(self, node: str, attempt: int, entry: JobEntry, pod: PodEntry, now: datetime) -> JobResult:
        message = pod.message or ""
        ran = pod.ran_seconds
        if pod.exit_code != 0:
            reason = pod.reason or "Error"
            text = message or f"exit code {pod.exit_code}"
            return JobResult(node, attempt, "Failed", entry.name, now, reason, text, ran_seconds=ran)
        if cut := truncation(message, pod.containers):
            return JobResult(node, attempt, "Failed", entry.name, now, "OutputTruncated", cut, ran_seconds=ran)
        return JobResult(node, attempt, "Succeeded", entry.name, now, "", message, ran_seconds=ran)

    async def _finished(
        self, node: str, attempt: int, entry: JobEntry, now: datetime, seen: Observation
    ) -> JobResult | None:
        pod = self.views.pod_message(self.namespace, entry.name)
        message: str | None = pod.message if pod is not None else None
        pod_exists = pod is not None
        if message is None:
            pod_exists, pod = await self._read_pod(entry.name)
            message = pod.message if pod is not None else None
        if message is None and entry.state == "Succeeded":
            finished = entry.finished_at or now
            if pod_exists and now - finished < OUTPUT_GRACE:
                seen.wake(finished + OUTPUT_GRACE)  # the Pod's status has not reached us yet; its event,
                return None  # or this timer, brings us back
            why = "its Pod is gone" if not pod_exists else "its Pod never reported a termination message"
            return JobResult(
                node,
                attempt,
                "Lost",
                entry.name,
                now,
                "OutputLost",
                f"Job {entry.name} succeeded but {why}: the output was lost, so the node runs again",
                blame=False,
            )
        if entry.state == "Failed" and entry.reason == "DeadlineExceeded" and not self._ran(entry.name):
            return JobResult(  # the Job's deadline counts from its start: a Pod that never ran is the cluster's
                node,
                attempt,
                "Failed",
                entry.name,
                entry.finished_at,
                "DeadlineExceeded",
                "the Job's activeDeadlineSeconds passed before its container started (scheduling, image pull, "
                "volumes); the node runs again",
                blame=False,
                infrastructure=True,
            )
        if entry.state == "Failed" and pod is not None and pod.disrupted:  # evicted, preempted...: not the
            return JobResult(  # component's failure (a cluster that does not apply the Job's podFailurePolicy)
                node,
                attempt,
                "Failed",
                entry.name,
                entry.finished_at,
                "Disrupted",
                f"the Pod was disrupted ({pod.disrupted}); the node runs again",
                blame=False,
                infrastructure=True,
            )
        ran = pod.ran_seconds if pod is not None else None
        if entry.state == "Succeeded" and pod is not None and (cut := truncation(message or "", pod.containers)):
            return JobResult(
                node, attempt, "Failed", entry.name, entry.finished_at, "OutputTruncated", cut, ran_seconds=ran
            )
        result = JobResult(
            node, attempt, entry.state, entry.name, entry.finished_at, entry.reason, message or "", ran_seconds=ran
        )
        if self.artifacts is not None:
            if entry.state == "Succeeded":
                return await self.artifacts.collect(result, pod)
            return staging_failure(result, pod) or result
        return result

    def _refusal(self, job: str) -> PodRefusal | None:
        event = self.views.refusal(self.namespace, job)
        return classify(event.message) if event is not None else None

    def _ran(self, job: str) -> bool:
        """Whether a Pod of the Job had its main container started (as far as the Pod store shows)."""
        return any(pod.running_since is not None for pod in self.views.pods_of(self.namespace, job))

    # -- the Job is not (or no longer) what the index says --------------------------------------------

    def _missing(self, node: str, attempt: int, job: str, now: datetime, seen: Observation) -> JobResult | None:
        first = self.missing_since.setdefault(job, time.monotonic())
        left = MISSING_GRACE - (time.monotonic() - first)
        if left > 0:
            seen.wake(now + timedelta(seconds=left))
            return None
        del self.missing_since[job]
        message = f"Job {job} disappeared before it finished"
        return JobResult(node, attempt, "Lost", job, now, "JobLost", message, blame=False)

    def _foreign(self, node: str, attempt: int, job: str, now: datetime, whose: str) -> JobResult:
        message = f"a Job named {job} exists but {whose}; it is not this node's result"
        return JobResult(node, attempt, "Failed", job, now, "ForeignJob", message, blame=False)

    def _describe(self, entry: JobEntry) -> str:
        if entry.owner_uid != self.uid:
            return f"another workflow ({entry.workflow or 'unknown'}, uid {entry.owner_uid or 'none'})"
        return f"node {entry.node} attempt {entry.attempt}"

    def _fresh(self, job: str) -> float | None:
        """Seconds left of the grace of a Job this process created moments ago, else None."""
        created = self.created_at.get(job)
        if created is None:
            return None
        left = MISSING_GRACE - (time.monotonic() - created)
        if left <= 0:
            del self.created_at[job]
            return None
        return left

    def _quiet_too_long(self, entry: JobEntry) -> bool:
        """True once an Active Job's resourceVersion has not moved for CONFIRM_AFTER seconds (then re-armed)."""
        now = time.monotonic()
        version, since = self.quiet_since.get(entry.name, (None, 0.0))
        if version != entry.resource_version:
            self.quiet_since[entry.name] = (entry.resource_version, now)
            return False
        return now - since >= CONFIRM_AFTER

    async def _fetch(self, job: str) -> tuple[bool, JobEntry | None]:
        """(exists, its summary) from the API itself."""
        try:
            found = await self.api.read_job(self.namespace, job)
        except ApiException as exc:
            if not_found(exc):
                return False, None
            raise
        return True, job_entry(found)

    async def _read_pod(self, job: str) -> tuple[bool, PodEntry | None]:
        """(a Pod of the Job exists, the one whose main container's (or stage-in's) end is the result, if one
        terminated)."""
        pods = await self.api.call(
            self.api.core.list_namespaced_pod,
            self.namespace,
            label_selector=f"batch.kubernetes.io/job-name={job}",
        )
        entries = [pod_entry(self.api.api_client.sanitize_for_serialization(item)) for item in pods.items]
        return bool(pods.items), best_pod(entry for entry in entries if entry is not None)


def _why_not_started(pods: list[PodEntry]) -> tuple[str, str]:
    """The reason and detail a Pod gives for not running (or that there is no Pod at all)."""
    for pod in pods:
        if pod.waiting:
            return pod.waiting, f"{pod.waiting}: {pod.waiting_message}".rstrip(": ")
    for pod in pods:
        if pod.unschedulable:
            return "Unschedulable", pod.unschedulable
    if pods:
        return "PodPending", f"the Pod is still {pods[0].phase or 'Pending'}"
    return (
        "PodNotCreated",
        "no Pod was created (see the Job's events: a missing service account, a quota or an admission policy)",
    )
