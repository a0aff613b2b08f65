"""Component slots (`maxConcurrentRuns`): how many Jobs of a component run at once in a namespace, and which
waiting node gets a slot that comes free: first come, first served by `readyAt`, across Workflows.

Pure, one `SlotBook` per namespace in the operator process (as `logic.breaker.BreakerBook`). The count comes
from the cluster: the k8s side tells the book which of the component's Jobs the Job informer sees active
(`observe`), so a restarted operator counts the Jobs that kept running. Launches the book admitted but the
informer has not shown yet are claims, counted too, so two runners never take the same slot. The engine
asks `admit` before it plans a Job (`WorkflowRun._slot`, next to breaker admission).

The order of waiters is (readyAt, workflow, node): readyAt is whole seconds and persisted in the node's
status, so the order is the same before and after a restart; within a second the names decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from switchyard.logic.runstate import TERMINAL
from switchyard.logic.steps import Plan, whole_seconds

if TYPE_CHECKING:
    from switchyard.logic.scheduler import WorkflowRun

WAITING_FOR_COMPONENT = "WaitingForComponent"  # a Pending node's reason while it waits for a slot
# A claim the informer has not confirmed in this long is dropped (the launch was refused or lost).
CLAIM_SECONDS = 60.0

Waiter = tuple[str, str]  # (workflow, node)


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    running: int  # the component's Jobs running (or claimed) now, this one included when admitted
    ahead: int  # waiters served before this node


@dataclass
class ComponentSlots:
    """One component's slots in one namespace."""

    active: set[str] = field(default_factory=set)  # Jobs the informer sees active
    claimed: dict[str, datetime] = field(default_factory=dict)  # Job -> when admitted, until the informer has it
    waiters: dict[Waiter, datetime] = field(default_factory=dict)  # -> readyAt

    def running(self) -> int:
        return len(self.active | self.claimed.keys())


class SlotBook:
    """The slots of the limited components of one namespace (see the module's doc)."""

    def __init__(self) -> None:
        self.components: dict[str, ComponentSlots] = {}
        self.reported: dict[str, tuple[int, int]] = {}  # component -> (running, waiting) last written to status
        # workflows whose runner asked this book already: what their status says is older than what it knows
        self.decided: set[str] = set()

    def slots(self, component: str) -> ComponentSlots:
        return self.components.setdefault(component, ComponentSlots())

    def observe(self, component: str, active: Iterable[str], seen: Iterable[str], now: datetime) -> bool:
        """The component's Jobs the informer sees: `active` ones (running, not finished) and all it has
        (`seen`): a claim it has is confirmed. True when fewer run than before (a slot came free)."""
        slots = self.slots(component)
        before = slots.running()
        slots.active = set(active)
        known = set(seen)
        expired = now - timedelta(seconds=CLAIM_SECONDS)
        slots.claimed = {job: at for job, at in slots.claimed.items() if job not in known and at > expired}
        return slots.running() < before

    def admit(
        self, component: str, limit: int, workflow: str, node: str, ready_at: datetime, job: str, now: datetime
    ) -> Verdict:
        """May the node start `job` of `component` now? Yes when a slot is free for it: fewer than `limit`
        running, and fewer waiters ahead of it (earlier `ready_at`) than free slots. No: it is a waiter."""
        self.decided.add(workflow)
        slots = self.slots(component)
        running = slots.running()
        me = (ready_at, workflow, node)
        ahead = sum(1 for (wf, n), at in slots.waiters.items() if (at, wf, n) < me)
        if limit - running > ahead:
            slots.waiters.pop((workflow, node), None)
            slots.claimed[job] = now
            return Verdict(True, running + 1, ahead)
        slots.waiters[(workflow, node)] = ready_at
        return Verdict(False, running, ahead)

    def release(self, component: str, job: str) -> None:
        """An admitted launch did not happen (the API refused it): its claim goes."""
        self.slots(component).claimed.pop(job, None)

    def withdraw(self, workflow: str, nodes: Iterable[str] | None = None) -> set[str]:
        """The workflow's waiters (only `nodes`, when given) no longer wait: finished, skipped, stopped. The
        components they waited for."""
        wanted = None if nodes is None else set(nodes)
        if wanted is None:
            self.decided.add(workflow)
        touched: set[str] = set()
        for component, slots in self.components.items():
            for key in [k for k in slots.waiters if k[0] == workflow and (wanted is None or k[1] in wanted)]:
                del slots.waiters[key]
                touched.add(component)
        return touched

    def seed(self, workflow: str, waiting: Iterable[tuple[str, str, datetime]]) -> None:
        """Waiters read from a Workflow's status ((node, component, readyAt)), before its runner asks (after a
        restart runners resume one by one: the waiters of those not resumed yet keep their place in line)."""
        if workflow in self.decided:
            return
        for node, component, ready_at in waiting:
            self.slots(component).waiters[(workflow, node)] = ready_at

    def forget(self, workflow: str) -> None:
        """The Workflow is deleted: nothing of it is kept."""
        self.withdraw(workflow)
        self.decided.discard(workflow)

    def holding(self, job: str) -> str | None:
        """The component whose slot the Job holds (seen active or claimed), if any."""
        for component, slots in self.components.items():
            if job in slots.active or job in slots.claimed:
                return component
        return None

    def waiting_workflows(self, component: str) -> set[str]:
        return {workflow for workflow, _ in self.slots(component).waiters}

    def counts(self, component: str) -> tuple[int, int]:
        """(running, waiting) of the component, as the book knows them now."""
        slots = self.slots(component)
        return slots.running(), len(slots.waiters)


def waiting_message(component: str, running: int, limit: int) -> str:
    return f"waiting for component {component}: {running}/{limit} running"


def waiting_in_status(nodes: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, datetime]]:
    """(node, component, readyAt) of the nodes a Workflow's status (wire form) shows waiting for a slot; the
    component is the one `waiting_message` names."""
    found = []
    for node, status in nodes.items():
        if status.get("reason") != WAITING_FOR_COMPONENT or not status.get("readyAt"):
            continue
        match = _WAITING.match(str(status.get("message") or ""))
        try:
            ready_at = datetime.fromisoformat(str(status["readyAt"]))
        except ValueError:
            continue
        if match is not None:
            found.append((node, match.group(1), ready_at))
    return found


_WAITING = re.compile(r"^waiting for component (\S+): ")


# -- the engine's side (`WorkflowRun._launch_ready`, next to breaker admission) -------------------------------------


def requeue_waiting(run: WorkflowRun) -> None:
    """Nodes waiting for a slot are asked again; those that ended meanwhile (skipped, stopped) stop waiting."""
    if not run.slot_waiting:
        return
    gone = {node for node in run.slot_waiting if run.nodes[node].phase in TERMINAL}
    if gone and run.slots is not None:
        run.slots.withdraw(run.name, gone)
    for node in sorted(run.slot_waiting - gone):
        run.ready.append(node)
    run.slot_waiting.clear()


def take_slot(
    run: WorkflowRun, node: str, component: str, limit: int | None, attempt: int, now: datetime, plan: Plan
) -> bool:
    """True when the node may start its Job of `component` (at most `limit` at once) now; else it waits,
    Pending with reason WaitingForComponent, its `readyAt` kept for its place in line."""
    if limit is None or run.slots is None:
        return True
    status = run.nodes[node]
    ready_at = status.ready_at or whole_seconds(now)
    verdict = run.slots.admit(component, limit, run.name, node, ready_at, run.job_name(node, attempt), now)
    if verdict.admitted:
        status.ready_at = None
        return True
    run.slot_waiting.add(node)
    message = waiting_message(component, verdict.running, limit)
    if (status.phase, status.reason, status.message, status.ready_at) != (
        "Pending",
        WAITING_FOR_COMPONENT,
        message,
        ready_at,
    ):
        if status.reason != WAITING_FOR_COMPONENT:  # one Event when it starts waiting, not per count change
            plan.events.append(("Normal", WAITING_FOR_COMPONENT, f"node {node}: {message}"))
        status.phase, status.reason, status.message = "Pending", WAITING_FOR_COMPONENT, message
        status.ready_at, status.next_retry_at = ready_at, None
        run.retrying.discard(node)
        plan.changed.add(node)
    return False


__all__ = [
    "CLAIM_SECONDS",
    "WAITING_FOR_COMPONENT",
    "ComponentSlots",
    "SlotBook",
    "Verdict",
    "requeue_waiting",
    "take_slot",
    "waiting_in_status",
    "waiting_message",
]
