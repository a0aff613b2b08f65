"""The workflow run engine: from node states and Job observations to a plan (launch, retry, skip, finish).

Pure and event-driven: `WorkflowRun` keeps, per node, how many dependencies are still unfinished, so a
node becomes ready the moment its last dependency succeeds; over a whole run the work is O(V + E).
It never talks to Kubernetes and never reads a clock: the caller passes `now` and observed Job results,
executes the returned `Plan` (create Jobs, write outputs, patch status) and calls `step` again.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from switchyard.logic.backoff import can_retry, next_retry_at, retry_delay
from switchyard.logic.breaker import Admission, BreakerBook
from switchyard.logic.dag import Dag
from switchyard.logic.naming import job_name
from switchyard.logic.nodestate import NodeState
from switchyard.logic.plan import plan_keys
from switchyard.logic.priority import node_runtimes
from switchyard.models.component import Backoff, ComponentSpec, FailureRecord
from switchyard.models.workflow import FailurePolicy, NodeStatus

DONE_OK = frozenset({"Succeeded", "FellBack"})
TERMINAL = frozenset({"Succeeded", "FellBack", "Failed", "Skipped"})
PREVIEW = 120
COMPACT_THRESHOLD = 1000  # above this many nodes, status keeps only what a restart needs
COMPACT_MESSAGES = 100  # in a compact status, only this many failed nodes keep a (short) message
COMPACT_TEXT = 80  # ... of at most this many characters
COMPACT_REASON = 40  # reasons in a compact status are cut to this (k8s/prepare.py budgets COMPACT_NODE_BYTES)
MAX_FREE_RETRIES = 5  # infrastructure failures of one node that do not use up its retry budget
# A Job the API refused (quota, admission webhook, invalid): retried after this backoff, never sooner.
REJECTED_BACKOFF = Backoff(initial_seconds=5, factor=2, max_seconds=300)
# Store trouble (unreachable, 5xx, SlowDown) retries this many times beyond the Component's retry limit.
STORE_RETRIES = 10
STORE_BACKOFF = Backoff(initial_seconds=2, factor=2, max_seconds=120)
# A dependency whose artifacts were found corrupt or missing runs again at most this many times per run.
MAX_UPSTREAM_RERUNS = 2

# Waiting: still Active but held up (no Pod yet: a quota); the node shows why and keeps running
JobState = Literal["Active", "Succeeded", "Failed", "Lost", "Rejected", "Waiting"]


def whole_seconds(now: datetime) -> datetime:
    """A node's start or finish as status stamps it: whole seconds, the precision of a Job's start and
    completion times, so a duration compares like with like (a start at .9 s does not shorten a node by 1 s)."""
    return now.replace(microsecond=0)


@dataclass(frozen=True)
class JobResult:
    """What the cluster says about the Job of one (node, attempt)."""

    node: str
    attempt: int
    state: JobState
    job: str = ""
    finished_at: datetime | None = None
    reason: str = ""
    message: str = ""  # the container's termination message: the output on success, the error on failure
    blame: bool = True  # False: not the component's failure (the cluster refused or lost it); the breaker ignores it
    transient: bool = False  # Rejected only: the refusal will pass (e.g. a quota): the attempt is not used up
    # Succeeded only: the attempt's output artifacts (ArtifactRef wire form, at most MAX_STATUS_ARTIFACTS) and
    # the key of its manifest (all of them), when the run passes data through an artifact store.
    artifacts: tuple[dict[str, object], ...] | None = None
    artifact_manifest: str | None = None
    artifact_bytes: int | None = None
    # Failed/Lost: the store's trouble, not the Component's (ArtifactStoreUnavailable...): retried with
    # backoff without using up the Component's retry limit (at most STORE_RETRIES times in a row).
    store_trouble: bool = False
    permanent: bool = False  # Failed: a retry cannot help (a policy refuses the Pod): no further attempt
    # Failed only: the cluster ended it (a disruption, a deadline hit before the container ran): retried without
    # using up the retry budget (at most MAX_FREE_RETRIES times per node and run)
    infrastructure: bool = False
    # Failed/Lost: the stage-in found this dependency's artifacts corrupt or missing: it runs again (a new
    # attempt, its own keys) and this node waits for it, as if the dependency had lost its output
    upstream_lost: str | None = None
    cached: bool = False  # Succeeded only: taken from the result cache, no Job ran (reason Cached)


@dataclass(frozen=True)
class Launch:
    node: str
    attempt: int
    component: str  # the component to run: the node's own, or its fallback
    fallback_for: str | None = None


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # node -> full output to persist before status
    changed: set[str] = field(default_factory=set)  # nodes whose status changed
    delete_jobs: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    wake_at: datetime | None = None

    def wake(self, when: datetime) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when


class ReadyQueue:
    """Ready nodes, popped smallest key first (`logic.plan`: the planned start; ties by spec order). A node
    may be pushed twice; the engine skips a popped node that is no longer waiting."""

    def __init__(self, priority: Mapping[str, tuple[float, int]]) -> None:
        self._priority = priority
        self._heap: list[tuple[float, int, str]] = []

    def append(self, node: str) -> None:
        heapq.heappush(self._heap, (*self._priority[node], node))

    def pop(self) -> str:
        return heapq.heappop(self._heap)[2]

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[str]:
        return (entry[2] for entry in sorted(self._heap))


def _state(status: NodeStatus | None) -> NodeState:
    return NodeState() if status is None else NodeState.of(status)


def preview(text: str, limit: int = PREVIEW) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class RunningComponents(Mapping[str, str]):
    """`WorkflowRun.running_components()`: running node -> component, read through to the run."""

    def __init__(self, run: WorkflowRun) -> None:
        self.run = run

    def __getitem__(self, node: str) -> str:
        if node not in self.run.running:
            raise KeyError(node)
        return self.run.component_of(node)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.run.running))

    def __len__(self) -> int:
        return len(self.run.running)


class WorkflowRun:
    """The live state of one workflow run, rebuilt from its status after a restart."""

    def __init__(
        self,
        name: str,
        dag: Dag,
        nodes: Mapping[str, NodeStatus],
        *,
        parallelism: int,
        failure_policy: FailurePolicy,
        started_at: datetime,
        deadline_seconds: int | None = None,
        uid: str = "",
        runtime_estimates: Mapping[str, float] | None = None,
        keys: Mapping[str, tuple[float, int]] | None = None,
    ) -> None:
        """`runtime_estimates` (component -> seconds, default 1 each) set the order in which ready nodes
        start when more are ready than `parallelism` allows: a list schedule planned on them (`logic.plan`),
        never longer than longest-remaining-path-first. `keys` is that plan made beforehand (`plan_keys`)."""
        self.name = name
        self.uid = uid
        self.dag = dag
        self.index = {node: i for i, node in enumerate(dag.nodes)}  # position in the immutable DAG
        self.rejections: dict[str, int] = {}  # node -> transient refusals in a row (backoff)
        self.store_troubles: dict[str, int] = {}  # node -> attempts lost to store trouble (not charged)
        # node -> retries after infrastructure failures, not charged to the retry budget (not kept across restarts)
        self.free_retries: dict[str, int] = {}
        self.reruns: dict[str, int] = {}  # node -> runs again because a dependent found its artifacts bad
        self.messages_kept = 0  # compact status: failed nodes that kept a message
        self.with_message: set[str] = set()
        self.parallelism = parallelism
        self.failure_policy = failure_policy
        self.started_at = started_at
        self.deadline = started_at + timedelta(seconds=deadline_seconds) if deadline_seconds else None
        self.nodes: dict[str, NodeState] = {n: _state(nodes.get(n)) for n in dag.order}
        self.failed_reason: str | None = None
        self.remaining: dict[str, int] = {}
        # The ready queue: a heap of (planned start, spec position, node).
        self.priority = keys if keys is not None else plan_keys(dag, node_runtimes(dag, runtime_estimates), parallelism)
        self.ready = ReadyQueue(self.priority)
        self.running: set[str] = set()
        self.retrying: set[str] = set()
        self.done = 0
        blocked: set[str] = set()
        for name_ in dag.order:
            status = self.nodes[name_]
            self.remaining[name_] = sum(1 for d in dag.deps[name_] if self.nodes[d].phase not in DONE_OK)
            if status.phase in TERMINAL:
                self.done += 1
                if status.phase == "Failed":
                    blocked.add(name_)
                    self.failed_reason = self.failed_reason or "NodeFailed"
            elif status.phase == "Running":
                self.running.add(name_)
            elif status.phase == "Retrying":
                self.retrying.add(name_)
            elif self.remaining[name_] == 0:
                self.ready.append(name_)
        # A restart may find a failure whose dependents were not marked yet: the first step reports them.
        self._carry = Plan()
        self._skip_after_failures(blocked, None, self._carry)

    # -- what the caller asks ---------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.nodes)

    @property
    def progress(self) -> str:
        """`ok/total`: the nodes that ended well (Succeeded, FellBack), as `argo` counts; a Failed run whose
        other nodes were Skipped does not read `5/5`."""
        ok = sum(1 for status in self.nodes.values() if status.phase in DONE_OK)
        return f"{ok}/{self.total}"

    @property
    def finished(self) -> bool:
        return self.done == self.total

    @property
    def succeeded(self) -> bool:
        return self.finished and all(s.phase in DONE_OK for s in self.nodes.values())

    def job_name(self, node: str, attempt: int) -> str:
        return job_name(self.name, self.uid, node, self.index[node], attempt)

    def running_jobs(self) -> dict[str, tuple[int, str]]:
        """Node -> (attempt, Job name) of every running node: the Jobs the caller should observe."""
        return {
            n: (self.nodes[n].attempts, self.nodes[n].job or self.job_name(n, self.nodes[n].attempts))
            for n in self.running
        }

    def running_components(self) -> Mapping[str, str]:
        """Node -> the component its running Job runs (the node's own, or its fallback): a live view,
        O(1) to take and to look up, so a pass that touches a few nodes does not pay for all running ones."""
        return RunningComponents(self)

    def component_of(self, node: str) -> str:
        """The component a node runs now: its own, or the fallback it fell back to."""
        return self.nodes[node].fallback or self.dag.nodes[node].component

    def compact(self) -> bool:
        return self.total > COMPACT_THRESHOLD

    def node_wire(self, node: str) -> dict[str, object]:
        """A node's status as written. A compact status (large workflows) stays bounded for any outcome:
        finished nodes lose Job name, output preview and start time; reasons are cut to `COMPACT_REASON`;
        only the first `COMPACT_MESSAGES` nodes with a message keep one, cut to `COMPACT_TEXT`.
        Nulls remove what an earlier write stored (merge patch)."""
        status = self.nodes[node]
        wire = status.wire()
        if self.compact():
            if status.phase in TERMINAL:
                wire.update(job=None, output=None, startedAt=None, fallback=None)
            # A compact node lists no artifacts: its manifest's key leads to all of them (in the store).
            wire.pop("artifacts", None)
            for key in ("artifactManifest", "artifactBytes"):
                if wire.get(key) is None:
                    wire.pop(key, None)
            if status.reason:
                wire["reason"] = preview(status.reason, COMPACT_REASON)
            keep = status.message and status.phase not in ("Skipped", "Succeeded")
            if keep and (node in self.with_message or len(self.with_message) < COMPACT_MESSAGES):
                self.with_message.add(node)
                wire["message"] = preview(status.message or "", COMPACT_TEXT)
            else:
                wire["message"] = None
        return wire

    # -- the engine -------------------------------------------------------------------------------

    def step(
        self,
        results: Mapping[str, JobResult],
        components: Mapping[str, ComponentSpec],
        breakers: BreakerBook,
        now: datetime,
    ) -> Plan:
        """Apply Job results (keyed by node, for Running nodes), then launch what is ready."""
        plan, self._carry = self._carry, Plan()
        if self.deadline is not None and not self.finished:
            if now >= self.deadline:
                self._expire(plan, now)
                return plan
            plan.wake(self.deadline)
        for node in sorted(results):  # O(results), not O(running): a step costs what changed
            result = results[node]
            status = self.nodes[node]
            if node not in self.running or result.attempt != status.attempts:
                continue  # stale: an earlier attempt's Job, or a node that is no longer running
            if result.state == "Succeeded":
                self._succeed(node, result, components, breakers, now, plan)
            elif result.state == "Rejected" and result.transient:
                self._refused(node, result, now, plan)
            elif result.state == "Waiting":
                self._waiting(node, result, plan)
            elif result.state in ("Failed", "Lost", "Rejected"):
                self._fail_attempt(node, result, components, breakers, now, plan)
            elif result.state == "Active" and result.reason:
                self._note(node, result, plan)
        for node in list(self.retrying):
            due = self.nodes[node].next_retry_at
            if due is None or due <= now:
                self.retrying.discard(node)
                self.ready.append(node)
            else:
                plan.wake(due)
        self._launch_ready(components, breakers, now, plan)
        return plan

    def _launch_ready(
        self, components: Mapping[str, ComponentSpec], breakers: BreakerBook, now: datetime, plan: Plan
    ) -> None:
        if self.failed_reason and self.failure_policy == "FailFast":
            self._stop_everything_pending(plan, now)
            return
        while self.ready and len(self.running) < self.parallelism:
            node = self.ready.pop()
            status = self.nodes[node]
            if status.phase in TERMINAL or node in self.running:
                continue
            spec = self.dag.nodes[node]
            component = components.get(spec.component)
            if component is None:  # deleted after validation: fail this node clearly, keep the run going
                self._finish_failed(
                    node, "UnknownComponent", f"component '{spec.component}' no longer exists", now, plan
                )
                continue
            attempt = status.attempts + 1
            decision = breakers.admit(spec.component, component.circuit_breaker, now, self.name, node)
            if decision == Admission.REJECT:
                self._fall_back(node, attempt, component, spec.component, components, now, plan)
            else:
                self._start(node, Launch(node, attempt, spec.component), now, plan)

    def _start(self, node: str, launch: Launch, now: datetime, plan: Plan) -> None:
        status = self.nodes[node]
        status.phase = "Running"
        status.attempts = launch.attempt
        status.job = self.job_name(node, launch.attempt)
        status.started_at = status.started_at or whole_seconds(now)
        status.finished_at = None
        status.next_retry_at = None
        status.fallback = launch.component if launch.fallback_for else None
        status.reason = None
        status.message = None
        self.running.add(node)
        plan.launches.append(launch)
        plan.changed.add(node)

    def _fall_back(
        self,
        node: str,
        attempt: int,
        component: ComponentSpec,
        name: str,
        components: Mapping[str, ComponentSpec],
        now: datetime,
        plan: Plan,
    ) -> None:
        fallback = component.fallback
        opened = f"circuit breaker of component '{name}' is open"
        if fallback is None:
            self._finish_failed(node, "CircuitOpen", f"{opened}; the component has no fallback", now, plan)
            return
        if fallback.component is not None and (fallback.component == name or fallback.component not in components):
            problem = "names the component itself" if fallback.component == name else "is missing or invalid"
            message = f"{opened}; its fallback component '{fallback.component}' {problem}"
            self._finish_failed(node, "FallbackUnavailable", message, now, plan)
            return
        if fallback.output is not None:
            status = self.nodes[node]
            status.phase = "FellBack"
            status.attempts = max(status.attempts, attempt - 1)
            status.finished_at = whole_seconds(now)
            status.started_at = status.started_at or whole_seconds(now)
            status.output = preview(fallback.output)
            status.reason = "CircuitOpen"
            status.message = f"{opened}; used the fallback output"
            status.next_retry_at = None
            plan.outputs[node] = fallback.output
            plan.changed.add(node)
            plan.events.append(("Warning", "FellBack", f"node {node}: {status.message}"))
            self._node_done(node)
            return
        assert fallback.component is not None
        plan.events.append(
            (
                "Warning",
                "FellBack",
                f"node {node}: {opened}; running fallback component '{fallback.component}'",
            )
        )
        self._start(node, Launch(node, attempt, fallback.component, fallback_for=name), now, plan)

    def _succeed(
        self,
        node: str,
        result: JobResult,
        components: Mapping[str, ComponentSpec],
        breakers: BreakerBook,
        now: datetime,
        plan: Plan,
    ) -> None:
        status = self.nodes[node]
        ran = status.fallback or self.dag.nodes[node].component
        if (spec := components.get(ran)) is not None:
            breakers.success(ran, spec.circuit_breaker, now, self.name, node)
        self.running.discard(node)
        self.rejections.pop(node, None)
        status.phase = "FellBack" if status.fallback else "Succeeded"
        status.finished_at = result.finished_at or whole_seconds(now)
        status.output = preview(result.message)
        status.reason = "FallbackSucceeded" if status.fallback else ("Cached" if result.cached else None)
        status.message = None
        status.next_retry_at = None
        status.artifacts = list(result.artifacts) if result.artifacts is not None else None
        status.artifact_manifest = result.artifact_manifest
        status.artifact_bytes = result.artifact_bytes
        plan.outputs[node] = result.message
        plan.changed.add(node)
        self._node_done(node)

    def _fail_attempt(
        self,
        node: str,
        result: JobResult,
        components: Mapping[str, ComponentSpec],
        breakers: BreakerBook,
        now: datetime,
        plan: Plan,
    ) -> None:
        status = self.nodes[node]
        own = self.dag.nodes[node].component
        ran = status.fallback or own
        failed_at = result.finished_at or whole_seconds(now)
        reason = result.reason or ("JobLost" if result.state == "Lost" else "JobFailed")
        # a policy's refusal is kept whole (within the status bound): what to fix is at its end
        message = (
            preview(result.message, 1000 if result.permanent else PREVIEW) or f"Job {result.job} failed ({reason})"
        )
        if (spec := components.get(ran)) is not None and result.blame:
            record = FailureRecord(workflow=self.name, node=node, reason=reason, time=failed_at)
            breakers.failure(ran, spec.circuit_breaker, now, record)
        else:
            breakers.release(ran, self.name, node)
        self.running.discard(node)
        if self._rerun_upstream(node, result, reason, message, failed_at, plan):
            return
        policy = components.get(own)
        free = self.store_troubles.get(node, 0)
        if result.store_trouble and free < STORE_RETRIES:
            free = self.store_troubles[node] = free + 1
            due = next_retry_at(STORE_BACKOFF, free, max(failed_at, now))
            if due.microsecond:
                due = due.replace(microsecond=0) + timedelta(seconds=1)
            status.phase = "Retrying"
            status.next_retry_at = due
            status.finished_at = failed_at
            status.reason = reason
            status.message = f"attempt {status.attempts} failed: {message}"
            self.retrying.add(node)
            plan.changed.add(node)
            plan.events.append(("Warning", "NodeRetrying", f"node {node}: {status.message}; retry at {due:%H:%M:%S}"))
            plan.wake(due)
            return
        if result.infrastructure and self.free_retries.get(node, 0) < MAX_FREE_RETRIES:
            self.free_retries[node] = self.free_retries.get(node, 0) + 1
        # attempts lost to the store, or ended by the cluster, are not the Component's
        used = status.attempts - free - self.free_retries.get(node, 0)
        retry = not result.permanent and status.fallback is None and policy is not None
        if retry and policy is not None and can_retry(policy.retry, used):
            # Count the delay from when the failure was seen (never earlier than the real failure), rounded up
            # to whole seconds as status timestamps have them: a retry is never early, also after a restart.
            due = next_retry_at(policy.retry.backoff, status.attempts, max(failed_at, now))
            if result.state == "Rejected":  # the API refused the Job: never hammer it
                due = max(due, next_retry_at(REJECTED_BACKOFF, status.attempts, max(failed_at, now)))
            if due.microsecond:
                due = due.replace(microsecond=0) + timedelta(seconds=1)
            status.phase = "Retrying"
            status.next_retry_at = due
            status.finished_at = failed_at
            status.reason = reason
            status.message = f"attempt {status.attempts} failed: {message}"
            self.retrying.add(node)
            plan.changed.add(node)
            plan.events.append(("Warning", "NodeRetrying", f"node {node}: {status.message}; retry at {due:%H:%M:%S}"))
            plan.wake(due)
            return
        self._finish_failed(node, reason, message, failed_at, plan)

    def _rerun_upstream(
        self, node: str, result: JobResult, reason: str, message: str, failed_at: datetime, plan: Plan
    ) -> bool:
        """The attempt found a dependency's artifacts corrupt or missing: that dependency runs again (its next
        attempt, under its own keys) and `node` waits for it, Pending, its attempt not charged. False when it
        cannot (not a dependency that succeeded with artifacts, or it ran again MAX_UPSTREAM_RERUNS times)."""
        producer = result.upstream_lost
        if producer is None or producer not in self.dag.deps[node]:
            return False
        upstream = self.nodes[producer]
        if upstream.phase != "Succeeded" or self.reruns.get(producer, 0) >= MAX_UPSTREAM_RERUNS:
            return False
        self.reruns[producer] = self.reruns.get(producer, 0) + 1
        self.free_retries[node] = self.free_retries.get(node, 0) + 1
        status = self.nodes[node]
        status.phase = "Pending"
        status.finished_at = failed_at
        status.reason = reason
        status.message = f"attempt {status.attempts} failed: {message}; waiting for {producer} to run again"
        plan.changed.add(node)
        upstream.phase = "Pending"
        upstream.finished_at = None
        upstream.reason = reason
        upstream.message = f"runs again: node {node} found its artifacts bad ({reason})"
        upstream.artifacts = upstream.artifact_manifest = upstream.artifact_bytes = None
        self.done -= 1
        for child in self.dag.dependents[producer]:
            self.remaining[child] += 1
        self.ready.append(producer)
        plan.changed.add(producer)
        plan.events.append(("Warning", "UpstreamRerun", f"node {producer} runs again: {status.message}"))
        return True

    def _note(self, node: str, result: JobResult, plan: Plan) -> None:
        """News about a running attempt that does not end it (its Pod disrupted and replaced): on the node and
        in an Event, once per change."""
        status = self.nodes[node]
        message = preview(result.message)
        if (status.reason, status.message) == (result.reason, message):
            return
        status.reason, status.message = result.reason, message
        plan.changed.add(node)
        plan.events.append(("Warning", result.reason, f"node {node} attempt {result.attempt}: {message}"))

    def _refused(self, node: str, result: JobResult, now: datetime, plan: Plan) -> None:
        """The API refused the Job for a passing reason (a quota): try the same attempt again later.

        Neither the retry budget nor the breaker is charged; the refusal is on the node for users to see.
        """
        status = self.nodes[node]
        self.running.discard(node)
        count = self.rejections[node] = self.rejections.get(node, 0) + 1
        due = now + timedelta(seconds=retry_delay(REJECTED_BACKOFF, count))
        due = due.replace(microsecond=0) + timedelta(seconds=1) if due.microsecond else due
        status.phase = "Retrying"
        status.attempts = max(0, result.attempt - 1)
        status.job = None
        status.next_retry_at = due
        status.reason = result.reason or "JobRejected"
        status.message = f"the API refused the Job: {result.message}"
        self.retrying.add(node)
        plan.changed.add(node)
        plan.events.append(("Warning", "JobRejected", f"node {node}: {status.message}; trying again at {due:%H:%M:%S}"))
        plan.wake(due)

    def _waiting(self, node: str, result: JobResult, plan: Plan) -> None:
        """The node's Job is held up (no Pod: a quota) or no longer is (reason ""): say so on the running node,
        with one Event when the reason comes; nothing is charged."""
        status = self.nodes[node]
        reason, message = result.reason or None, result.message or None
        if (status.reason, status.message) == (reason, message):
            return
        new_reason = reason != status.reason  # a new message alone (each try names a new Pod) is no new Event
        status.reason, status.message = reason, message
        plan.changed.add(node)
        if reason is not None and new_reason:
            plan.events.append(("Warning", reason, f"node {node}: {message}"))

    def _finish_failed(self, node: str, reason: str, message: str, now: datetime, plan: Plan) -> None:
        status = self.nodes[node]
        self.running.discard(node)
        self.retrying.discard(node)
        status.phase = "Failed"
        status.finished_at = whole_seconds(now)
        status.next_retry_at = None
        status.reason = reason
        status.message = message
        plan.changed.add(node)
        plan.events.append(("Warning", "NodeFailed", f"node {node} failed ({reason}): {message}"))
        self.done += 1
        self.failed_reason = self.failed_reason or "NodeFailed"
        self._skip_after_failures({node}, now, plan)

    def _node_done(self, node: str) -> None:
        self.done += 1
        self.rejections.pop(node, None)
        for child in self.dag.dependents[node]:
            self.remaining[child] -= 1
            if self.remaining[child] == 0 and self.nodes[child].phase == "Pending":
                self.ready.append(child)

    def _skip_after_failures(self, failed: set[str], now: datetime | None, plan: Plan) -> None:
        """Every not-yet-started descendant of a failed node is Skipped, naming the dependency it waited for.

        A child of the failed node says `DependencyFailed`; one further down says `DependencySkipped` and names
        the failed node behind it, so no node claims that a dependency failed when that one was only skipped.
        """
        queue = deque((node, node) for node in sorted(failed))
        seen: set[str] = set()
        while queue:
            current, origin = queue.popleft()
            for child in self.dag.dependents[current]:
                if child in seen:
                    continue
                seen.add(child)
                status = self.nodes[child]
                if status.phase in ("Pending", "Retrying"):
                    if current == origin:
                        self._skip(child, "DependencyFailed", f"dependency '{current}' failed", now, plan)
                    else:
                        why = f"dependency '{current}' was skipped (after '{origin}' failed)"
                        self._skip(child, "DependencySkipped", why, now, plan)
                queue.append((child, origin))

    def _skip(self, node: str, reason: str, message: str, now: datetime | None, plan: Plan) -> None:
        status = self.nodes[node]
        status.phase = "Skipped"
        status.reason = reason
        status.message = message
        status.next_retry_at = None
        status.finished_at = whole_seconds(now) if now is not None else None
        self.retrying.discard(node)
        self.done += 1
        plan.changed.add(node)

    def _stop_everything_pending(self, plan: Plan, now: datetime) -> None:
        """FailFast: nothing new starts; what waits is Skipped (running Jobs finish on their own)."""
        for node, status in self.nodes.items():
            if status.phase in ("Pending", "Retrying"):
                self._skip(node, "FailFast", "the workflow is failing (failurePolicy FailFast)", now, plan)
        self.ready.clear()

    def stop(self, now: datetime) -> Plan:
        """Stopped on request: running Jobs are deleted and their nodes Failed (Stopped), the rest Skipped."""
        plan, self._carry = self._carry, Plan()
        if not self.finished:
            self._halt("Stopped", "the workflow was stopped", plan, now)
        return plan

    def _expire(self, plan: Plan, now: datetime) -> None:
        self._halt("DeadlineExceeded", "the workflow's activeDeadlineSeconds passed", plan, now)

    def _halt(self, reason: str, why: str, plan: Plan, now: datetime) -> None:
        """End the run now: running nodes fail with `reason` (their Jobs deleted), waiting ones are Skipped."""
        self.failed_reason = reason
        for node in sorted(self.running):
            status = self.nodes[node]
            if status.job:
                plan.delete_jobs.append(status.job)
            status.phase = "Failed"
            status.reason = reason
            status.message = why
            status.finished_at = whole_seconds(now)
            status.next_retry_at = None
            plan.changed.add(node)
            self.done += 1
        self.running.clear()
        for node, status in self.nodes.items():
            if status.phase in ("Pending", "Retrying"):
                self._skip(node, reason, why, now, plan)
        self.ready.clear()


__all__ = ["BreakerBook", "JobResult", "Launch", "Plan", "WorkflowRun", "preview"]
