"""Component slots on the cluster side: count a limited component's Jobs from the Job informer's store, wake
the runners whose nodes wait when a slot comes free, and report `status.running` / `status.waiting`.

The book and its rules are pure (`switchyard.logic.slots`). The count is of the Jobs this process's informer
sees: with label shards (`--label-selector` on Workflows) sharing a namespace, each shard counts only the Jobs
of its own Workflows (its informer is filtered the same way) unless its informers see all of the namespace's
Jobs; the README's Component section says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic.naming import dns_label
from switchyard.logic.slots import SlotBook, waiting_in_status
from switchyard.models.component import ComponentSpec


def book(rt: Runtime, namespace: str) -> SlotBook:
    return rt.slot_books.setdefault(namespace, SlotBook())


def limited(components: Mapping[str, ComponentSpec]) -> dict[str, int]:
    """Component -> its maxConcurrentRuns, for those that have one."""
    return {name: spec.max_concurrent_runs for name, spec in components.items() if spec.max_concurrent_runs}


def refresh(rt: Runtime, views: Views, namespace: str, names: Iterable[str], now: datetime) -> None:
    """Tell the book which Jobs of each named component the informer sees (one scan of the namespace's Jobs);
    where a slot came free, wake the runners of the Workflows waiting for it."""
    wanted = {dns_label(name): name for name in names}
    if not wanted:
        return
    active: dict[str, set[str]] = {name: set() for name in wanted.values()}
    seen: dict[str, set[str]] = {name: set() for name in wanted.values()}
    for key in list(views.jobs):
        if key[0] != namespace:
            continue
        for entry in views.jobs[key]:
            name = wanted.get(entry.component)
            if name is None:
                continue
            seen[name].add(entry.name)
            if entry.state == "Active":
                active[name].add(entry.name)
    found = book(rt, namespace)
    for name in wanted.values():
        if found.observe(name, active[name], seen[name], now):
            wake_waiting(rt, namespace, name)


def wake_waiting(rt: Runtime, namespace: str, component: str) -> None:
    for workflow in book(rt, namespace).waiting_workflows(component):
        rt.wake(namespace, workflow)


async def report(rt: Runtime, namespace: str, names: Iterable[str]) -> None:
    """`status.running` and `status.waiting` of each named component, patched when they changed."""
    found = book(rt, namespace)
    for name in sorted(set(names)):
        counts = found.counts(name)
        if found.reported.get(name) == counts:
            continue
        found.reported[name] = counts
        running, waiting = counts
        await rt.api.patch_status("components", namespace, name, {"running": running, "waiting": waiting})


async def after_pass(
    rt: Runtime, namespace: str, components: Mapping[str, ComponentSpec], refused: Iterable[tuple[str, str]]
) -> None:
    """A pass acted: the claims of launches the API refused ((component, Job) pairs) go; status is reported."""
    names = limited(components)
    if not names:
        return
    found = book(rt, namespace)
    for component, job in refused:
        found.release(component, job)
    await report(rt, namespace, names)


async def run_ended(rt: Runtime, namespace: str, workflow: str) -> None:
    """The workflow finished or its runner stops: its nodes wait no more; whoever was behind them may go."""
    touched = book(rt, namespace).withdraw(workflow)
    for component in touched:
        wake_waiting(rt, namespace, component)
    if touched:
        await report(rt, namespace, touched)


def workflow_seen(rt: Runtime, namespace: str, workflow: str, status: Mapping[str, Any] | None) -> None:
    """A Workflow watch event: the waiters its status shows join the line until its runner speaks for them."""
    nodes = (status or {}).get("nodes")
    if nodes and isinstance(nodes, Mapping):
        waiting = waiting_in_status(nodes)
        if waiting:
            book(rt, namespace).seed(workflow, waiting)


__all__ = ["after_pass", "book", "limited", "refresh", "report", "run_ended", "wake_waiting", "workflow_seen"]
