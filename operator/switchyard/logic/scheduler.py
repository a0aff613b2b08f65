"""The workflow run engine: from node states and Job observations to a plan (launch, retry, skip, finish).

Pure and event-driven: `WorkflowRun` keeps, per node, how many dependencies are still unfinished, so a
node becomes ready the moment its last dependency succeeds; over a whole run the work is O(V + E).
It never talks to Kubernetes and never reads a clock: the caller passes `now` and observed Job results,
executes the returned `Plan` (create Jobs, write outputs, patch status) and calls `step` again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from switchyard.logic import slots
from switchyard.logic.backoff import can_retry, next_retry_at, retry_delay
from switchyard.logic.breaker import Admission, BreakerBook
from switchyard.logic.compact import COMPACT_MESSAGES, COMPACT_TEXT
from switchyard.logic.exits import SUMMARY_KEY, summary
from switchyard.logic.fanout import FanOuts
from switchyard.logic.features import Defer, Expand, Settle, satisfies_dependents
from switchyard.logic.foreach import output_key
from switchyard.logic.runstate import DONE_OK, TERMINAL
from switchyard.logic.stats import StatsBook
from switchyard.logic.steps import PREVIEW, JobResult, JobState, Launch, Plan, preview, whole_seconds
from switchyard.models.component import Backoff, ComponentSpec, FailureRecord

MAX_FREE_RETRIES = 5  # infrastructure failures of one node that do not use up its retry budget
# A Job the API refused (quota, admission webhook, invalid): retried after this backoff, never sooner.
REJECTED_BACKOFF = Backoff(initial_seconds=5, factor=2, max_seconds=300)
# Store trouble (unreachable, 5xx, SlowDown) retries this many times beyond the Component's retry limit.
STORE_RETRIES = 10
STORE_BACKOFF = Backoff(initial_seconds=2, factor=2, max_seconds=120)
# A dependency whose artifacts were found corrupt or missing runs again at most this many times per run.
MAX_UPSTREAM_RERUNS = 2


class WorkflowRun(FanOuts):
    """A workflow run and its engine: `step` applies results and plans; `stop` halts it on request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As `RunState` (the DAG, the node statuses read, parallelism, policy, timing, features)."""
        super().__init__(*args, **kwargs)
        self.reruns: dict[str, int] = {}  # node -> runs again because a dependent found its artifacts bad
        self.slots: slots.SlotBook | None = None  # component slots (`maxConcurrentRuns`), set by the runner
        self.stats: StatsBook | None = None  # component statistics (`logic.stats`), set by the runner
        self.slot_waiting: set[str] = set()  # nodes waiting for a slot: asked again each step
        # A restart may find a failure whose dependents were not marked yet: the first step reports them.
        self._carry = Plan()
        blocked = {node for node, status in self.nodes.items() if status.phase == "Failed"}
        self._skip_after_failures(blocked, None, self._carry)
        if self.exit_nodes and self.main_finished():  # ended before a restart: the exit nodes go on
            started = any(self.nodes[node].attempts or self.nodes[node].phase != "Pending" for node in self.exit_nodes)
            self._release_exits(self._carry, summary_written=started)

    # -- the engine -------------------------------------------------------------------------------

    def step(
        self,
        results: Mapping[str, JobResult],
        components: Mapping[str, ComponentSpec],
        breakers: BreakerBook,
        now: datetime,
        facts: Mapping[str, Mapping[str, object]] | None = None,
        *,
        stop: bool = False,
        skip_exits: bool = False,
    ) -> Plan:
        """Apply Job results (keyed by node, for Running nodes) and the facts features asked for (feature ->
        node -> fact), then offer ready nodes to the features and launch the rest.

        `stop`: a stop was requested: the DAG is halted (as `stop`), its exit nodes still run; `skip_exits`:
        a second stop: the exit nodes are halted too."""
        plan, self._carry = self._carry, Plan()
        self._take_facts(facts or {})
        if stop and not self.main_finished():
            self._halt("Stopped", "the workflow was stopped", plan, now)
        if skip_exits and not self.finished:
            self._halt("Stopped", "the workflow was stopped twice: its exit nodes are skipped", plan, now, exits=True)
        if self.deadline is not None and not self.main_finished():
            if now >= self.deadline:
                self._expire(plan, now)
                if not self.exit_nodes:
                    return plan
            else:
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
        self._close_fan_outs(now, plan)
        self._launch_ready(components, breakers, now, plan)
        while self._close_fan_outs(now, plan):  # instances that ended at launch (forEach, `logic.fanout`)
            self._launch_ready(components, breakers, now, plan)
        return plan

    def _launch_ready(
        self, components: Mapping[str, ComponentSpec], breakers: BreakerBook, now: datetime, plan: Plan
    ) -> None:
        if self.failed_reason and self.failure_policy == "FailFast" and not self.exits_released:
            self._stop_everything_pending(plan, now)
        if self.exit_nodes and not self.exits_released and self.main_finished():
            self._release_exits(plan)
        if self.failed_reason and self.failure_policy == "FailFast" and not self.exits_released:
            return
        slots.requeue_waiting(self)
        while self.ready and len(self.running) < self.parallelism:
            node = self.ready.pop()
            status = self.nodes[node]
            if status.phase in TERMINAL or node in self.running or node in self.deferred:
                continue
            if node not in self.offered and self._offer(node, now, plan):
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
            elif slots.take_slot(self, node, spec.component, component.max_concurrent_runs, attempt, now, plan):
                self._start(node, Launch(node, attempt, spec.component), now, plan)
            else:  # waits for a slot of its component (`maxConcurrentRuns`): a HalfOpen trial it took goes back
                breakers.release(spec.component, self.name, node)

    # -- node features (logic.features) -----------------------------------------------------------

    def _take_facts(self, facts: Mapping[str, Mapping[str, object]]) -> None:
        """Keep what the observe half found; a node deferred for it is ready again."""
        for feature, found in facts.items():
            self.facts.setdefault(feature, {}).update(found)
            for node in found:
                if self.deferred.get(node) == feature:
                    del self.deferred[node]
                    self.ready.append(node)

    def _offer(self, node: str, now: datetime, plan: Plan) -> bool:
        """Offer a ready node to each feature; True when one settled or deferred it (no Job now)."""
        spec = self.dag.nodes[node]
        for feature in self.features:
            if not feature.applies(spec):
                continue
            verdict = feature.decide(node, self, self.facts.get(feature.name, {}), now)
            if isinstance(verdict, Defer):
                self.deferred[node] = feature.name
                plan.wanted.setdefault(feature.name, set()).add(node)
                return True
            if verdict is not None:
                for facts in self.facts.values():
                    facts.pop(node, None)
                if isinstance(verdict, Expand):
                    self._expand(node, verdict, now, plan)
                else:
                    self._settle(node, verdict, now, plan)
                return True
        self.offered.add(node)
        for facts in self.facts.values():
            facts.pop(node, None)
        return False

    def _settle(self, node: str, verdict: Settle, now: datetime, plan: Plan) -> None:
        """A feature ended the node without a Job: Succeeded (its output persisted as a Job's), Skipped or Failed."""
        if verdict.phase == "Failed":
            self._finish_failed(node, verdict.reason, verdict.message, now, plan)
            return
        status = self.nodes[node]
        status.phase = verdict.phase
        status.started_at = status.started_at or whole_seconds(now)
        status.finished_at = whole_seconds(now)
        status.next_retry_at = None
        status.reason = verdict.reason
        status.message = verdict.message
        if verdict.phase == "Succeeded":
            status.output = preview(verdict.output or "")
            status.artifacts = list(verdict.artifacts) if verdict.artifacts is not None else None
            status.artifact_manifest = verdict.artifact_manifest
            status.artifact_bytes = verdict.artifact_bytes
            plan.outputs[node] = verdict.output or ""
        plan.changed.add(node)
        if verdict.event is not None:
            plan.events.append((verdict.event, verdict.reason, f"node {node}: {verdict.message}"))
        if satisfies_dependents(status):
            self._node_done(node)
        else:
            self.done += 1
            self._skip_after_failures({node}, now, plan)

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
            plan.outputs[output_key(node)] = fallback.output
            plan.changed.add(node)
            plan.events.append(("Warning", "FellBack", f"node {node}: {status.message}"))
            self._node_done(node)
            return
        assert fallback.component is not None
        limit = components[fallback.component].max_concurrent_runs
        if not slots.take_slot(self, node, fallback.component, limit, attempt, now, plan):
            return
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
            if self.stats is not None and not result.cached:
                self.stats.success(ran, result.ran_seconds, now)
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
        plan.outputs[output_key(node)] = result.message
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
            if self.stats is not None:
                self.stats.failure(ran, result.ran_seconds, now)
        else:
            breakers.release(ran, self.name, node)
        self.running.discard(node)
        if self._rerun_upstream(node, result, reason, message, failed_at, plan):
            return
        policy = components.get(own)
        free = self.store_troubles.get(node, 0)
        if result.store_trouble and free < STORE_RETRIES:
            free = self.store_troubles[node] = free + 1
            self._retry(node, next_retry_at(STORE_BACKOFF, free, max(failed_at, now)), failed_at, reason, message, plan)
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
            self._retry(node, due, failed_at, reason, message, plan)
            return
        self._finish_failed(node, reason, message, failed_at, plan)

    def _rerun_upstream(
        self, node: str, result: JobResult, reason: str, message: str, failed_at: datetime, plan: Plan
    ) -> bool:
        """The attempt found a dependency's artifacts corrupt or missing: that dependency (or that instance of a
        forEach dependency, which then summarizes again: `_reopen_instance`) runs again (its next attempt, under
        its own keys) and `node` waits for it, Pending, its attempt not charged. False when it cannot (not a
        dependency that succeeded with artifacts, or it ran again MAX_UPSTREAM_RERUNS times)."""
        producer = result.upstream_lost
        if producer is None or (producer not in self.dag.deps[node] and not self._instance_of(producer, node)):
            return False
        upstream = self.nodes[producer]
        if upstream.phase != "Succeeded" or self.reruns.get(producer, 0) >= MAX_UPSTREAM_RERUNS:
            return False
        if producer not in self.dag.deps[node] and not self._reopen_instance(producer, plan):
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

    def _retry(self, node: str, due: datetime, failed_at: datetime, reason: str, message: str, plan: Plan) -> None:
        """The attempt failed; the next one starts at `due`, rounded up to the whole seconds of status stamps."""
        if due.microsecond:
            due = due.replace(microsecond=0) + timedelta(seconds=1)
        status = self.nodes[node]
        status.phase = "Retrying"
        status.next_retry_at = due
        status.finished_at = failed_at
        status.reason = reason
        status.message = f"attempt {status.attempts} failed: {message}"
        self.retrying.add(node)
        plan.changed.add(node)
        plan.events.append(("Warning", "NodeRetrying", f"node {node}: {status.message}; retry at {due:%H:%M:%S}"))
        plan.wake(due)

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
        if node in self.parent_of:  # a forEach instance: its node decides (minSuccessRatio)
            self._instance_ended(node)
            return
        self.failed_reason = self.failed_reason or "NodeFailed"
        self._skip_after_failures({node}, now, plan)

    def _node_done(self, node: str) -> None:
        self.done += 1
        self.rejections.pop(node, None)
        self._instance_ended(node)
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
        self._instance_ended(node)

    def _stop_everything_pending(self, plan: Plan, now: datetime) -> None:
        """FailFast: nothing new starts; what waits is Skipped (running Jobs finish on their own). Exit nodes
        wait for the DAG to end, then run."""
        for node, status in self.nodes.items():
            if status.phase in ("Pending", "Retrying") and node not in self.exit_nodes:
                self._skip(node, "FailFast", "the workflow is failing (failurePolicy FailFast)", now, plan)
        self.ready.clear()

    def _release_exits(self, plan: Plan, summary_written: bool = False) -> None:
        """The DAG has ended: `workflow.json` goes to the outputs, and the exit nodes may start."""
        self.exits_released = True
        if not summary_written:
            main = {node: status for node, status in self.nodes.items() if node not in self.exit_nodes}
            satisfied = sum(1 for status in main.values() if satisfies_dependents(status))
            shortfalls = self.shortfalls()
            plan.outputs[SUMMARY_KEY] = summary(main, self.failed_reason, satisfied, self.parent_of, shortfalls)
        for node in self.held_exits:
            if self.nodes[node].phase == "Pending":
                self.ready.append(node)
        self.held_exits = []

    def stop(self, now: datetime) -> Plan:
        """Stopped on request: running Jobs are deleted and their nodes Failed (Stopped), the rest Skipped."""
        plan, self._carry = self._carry, Plan()
        if not self.finished:
            self._halt("Stopped", "the workflow was stopped", plan, now)
        return plan

    def _expire(self, plan: Plan, now: datetime) -> None:
        self._halt("DeadlineExceeded", "the workflow's activeDeadlineSeconds passed", plan, now)

    def _halt(self, reason: str, why: str, plan: Plan, now: datetime, exits: bool = False) -> None:
        """End the DAG now (`exits`: the exit nodes too): running nodes fail with `reason` (their Jobs deleted),
        waiting ones are Skipped."""
        self.failed_reason = self.failed_reason if exits and self.exits_released else reason
        halted = self.exit_nodes if exits else frozenset(self.nodes) - self.exit_nodes
        if exits:
            self.exits_released = True
            self.held_exits = []
        for node in sorted(self.running & halted):
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
        self.running -= halted
        if not exits:
            self._halt_fan_outs(reason, why, now, plan)
        for node, status in list(self.nodes.items()):
            if status.phase in ("Pending", "Retrying") and node in halted:
                self._skip(node, reason, why, now, plan)
        if not self.exit_nodes or exits:
            self.ready.clear()


__all__ = [
    "COMPACT_MESSAGES",
    "COMPACT_TEXT",
    "DONE_OK",
    "TERMINAL",
    "BreakerBook",
    "JobResult",
    "JobState",
    "Launch",
    "Plan",
    "WorkflowRun",
    "preview",
]
